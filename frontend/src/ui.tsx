// Small shared pieces: pagination, error banner, screen shortcuts, the "cannot open" page.

import type { ComponentChildren } from "preact";
import { useEffect } from "preact/hooks";
import { isTyping } from "./canvas/annotator";
import { linkTo } from "./router";

export function pageOf<T>(items: T[], page: number, perPage: number): T[] {
  return items.slice((page - 1) * perPage, page * perPage);
}

export function Pager(props: { page: number; total: number; perPage: number; onPage(p: number): void; label: string; jump?: boolean }) {
  const pages = Math.max(1, Math.ceil(props.total / props.perPage));
  if (pages <= 1) return null;
  return (
    <nav class="pager" aria-label={props.label}>
      {props.jump && (
        <button type="button" disabled={props.page <= 1} onClick={() => props.onPage(1)}>
          « First
        </button>
      )}
      <button type="button" disabled={props.page <= 1} onClick={() => props.onPage(props.page - 1)}>
        ← Previous
      </button>
      <span aria-live="polite">
        Page {props.page} of {pages}
      </span>
      <button type="button" disabled={props.page >= pages} onClick={() => props.onPage(props.page + 1)}>
        Next →
      </button>
      {props.jump && (
        <button type="button" disabled={props.page >= pages} onClick={() => props.onPage(pages)}>
          Last »
        </button>
      )}
      {props.jump && (
        <form
          class="page-jump"
          onSubmit={(e) => {
            e.preventDefault();
            const n = Number(new FormData(e.currentTarget).get("page"));
            if (n >= 1) props.onPage(Math.min(pages, Math.floor(n)));
          }}
        >
          <label>
            Go to page <input name="page" type="number" min={1} max={pages} required />
          </label>
          <button type="submit">Go</button>
        </form>
      )}
    </nav>
  );
}

export function ErrorBanner({ error, onClose }: { error: string; onClose?: () => void }) {
  if (!error) return null;
  return (
    <div class="error banner" role="alert">
      <span>{error}</span>
      {onClose && (
        <button type="button" class="ghost" aria-label="Dismiss the error" onClick={onClose}>
          ×
        </button>
      )}
    </div>
  );
}

/** A screen's keyboard shortcuts: `onKey` sees the keys pressed outside text fields and without
 *  Ctrl/Meta/Alt, for as long as the screen is shown (it reads live state through refs). */
export function useShortcuts(onKey: (e: KeyboardEvent) => void): void {
  useEffect(() => {
    const listener = (e: KeyboardEvent) => {
      if (isTyping(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      onKey(e);
    };
    window.addEventListener("keydown", listener);
    return () => window.removeEventListener("keydown", listener);
  }, []);
}

/** The page shown when a screen cannot start (no such task, no access, server down). */
export function CannotOpen({ title, error, children }: { title: string; error: string; children?: ComponentChildren }) {
  return (
    <section class="page">
      <h1>{title}</h1>
      <ErrorBanner error={error} />
      {children}
    </section>
  );
}

/** A work queue with nothing left for me: what it means, and the two ways on. */
/** The empty queue's heading when the server said why it gave no work (a paused or closed task). */
const PAUSED_TITLE = "This task is not handing out work";

/** An empty work queue: ``title`` and ``note`` when nothing is waiting, or, when the server gave
 * a ``reason`` (emptyReason in taskinfo.ts), that the task is not handing out work and why. */
export function QueueEmpty(props: { title: string; note: string; reason: string; onRefill: () => void }) {
  const { title, note, reason, onRefill } = props;
  return (
    <div class="empty" role="status">
      <h2>{reason ? PAUSED_TITLE : title}</h2>
      <p>{reason || note}</p>
      <p>
        <button type="button" onClick={onRefill}>Check again</button>{" "}
        <a class="button" href="/work" onClick={(e) => linkTo(e, "/work")}>Back to my work</a>
      </p>
    </div>
  );
}
