// Small shared pieces: pagination, error banner.

export function pageOf<T>(items: T[], page: number, perPage: number): T[] {
  return items.slice((page - 1) * perPage, page * perPage);
}

export function Pager(props: { page: number; total: number; perPage: number; onPage(p: number): void; label: string }) {
  const pages = Math.max(1, Math.ceil(props.total / props.perPage));
  if (pages <= 1) return null;
  return (
    <nav class="pager" aria-label={props.label}>
      <button type="button" disabled={props.page <= 1} onClick={() => props.onPage(props.page - 1)}>
        ← Previous
      </button>
      <span aria-live="polite">
        Page {props.page} of {pages}
      </span>
      <button type="button" disabled={props.page >= pages} onClick={() => props.onPage(props.page + 1)}>
        Next →
      </button>
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
