import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, explain } from "../api";
import { Surface } from "../canvas/Surface";
import { loadMedia, type Media } from "../media";
import { colourFor, framesFromJson, regionsFromJson, type Region } from "../regions";
import { linkTo } from "../router";
import { annotationsOf, assignmentsPath, emptyReason, enqueue, loadTask, setQueued, type TaskInfo } from "../taskinfo";
import { CannotOpen, ErrorBanner, QueueEmpty, useShortcuts } from "../ui";

/** One input waiting for review: the labelers' versions of it. */
interface Case {
  inputId: string;
  input: any;
  workers: string[];
  ready: Promise<Loaded>;
}

interface Version {
  worker: string;
  concepts: string[];
  regions: Region[];
  consensus: any;
}

interface Loaded {
  media: Media;
  versions: Version[];
}

async function load(info: TaskInfo, input: any, workers: string[]): Promise<Loaded> {
  const [media, anns] = await Promise.all([loadMedia(input.data), annotationsOf(info, input.id)]);
  const versions: Version[] = workers.map((worker) => {
    const mine = anns.filter((a) => a.user_id === worker);
    const concepts = mine.flatMap((a) => (a.data?.concepts ?? []).filter((c: any) => (c.value ?? 1) > 0).map((c: any) => c.id));
    const regions = mine.flatMap((a) => [
      ...regionsFromJson(a.data?.regions, worker),
      ...[...framesFromJson(a.data?.frames, info.sampleMs, worker).values()].flat(),
    ]);
    return { worker, concepts: [...new Set(concepts)], regions, consensus: mine[0]?.consensus_info };
  });
  return { media, versions };
}

function bounds(r: Region): [number, number, number, number] {
  const g = r.geometry;
  if (g.kind === "box") return [g.left, g.top, g.right, g.bottom];
  const xs = g.points.map((p) => p[0]);
  const ys = g.points.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

function iou(a: Region, b: Region): number {
  const [l1, t1, r1, b1] = bounds(a);
  const [l2, t2, r2, b2] = bounds(b);
  const w = Math.max(0, Math.min(r1, r2) - Math.max(l1, l2));
  const h = Math.max(0, Math.min(b1, b2) - Math.max(t1, t2));
  const inter = w * h;
  const union = (r1 - l1) * (b1 - t1) + (r2 - l2) * (b2 - t2) - inter;
  return union > 0 ? inter / union : 0;
}

/** Keys of regions that every other version also drew (same concept, overlap ≥ 0.5). */
function agreedKeys(versions: Version[]): Set<string> {
  const out = new Set<string>();
  if (versions.length < 2) return out;
  for (const v of versions) {
    for (const r of v.regions) {
      const everywhere = versions.every((o) => o === v || o.regions.some((q) => q.concept === r.concept && iou(q, r) >= 0.5));
      if (everywhere) out.add(r.key);
    }
  }
  return out;
}

function whyInReview(info: TaskInfo, loaded: Loaded | null): string {
  const review = info.task.review ?? {};
  if (review.strategy === "CONSENSUS") {
    const c = loaded?.versions.find((v) => v.consensus)?.consensus;
    const score = typeof c?.input_score === "number" ? ` Agreement score ${c.input_score.toFixed(2)}.` : "";
    return `The labelers did not agree (consensus needs ${review.consensus_strategy_info?.approval_threshold_labelers || 1} of them).${score} Approve the version that is right, or send it back.`;
  }
  const share = review.manual_strategy_info?.sample_percentage;
  const pct = typeof share === "number" ? (share <= 1 ? share * 100 : share) : undefined;
  return `Sampled for review: this task sends ${pct !== undefined ? `${Math.round(pct)} %` : "a share"} of its inputs to reviewers.`;
}

export function Review(props: { owner: string; app: string; task: string }) {
  const ref = useMemo(() => ({ owner: props.owner, app: props.app }), [props.owner, props.app]);
  const [info, setInfo] = useState<TaskInfo | null>(null);
  const [fatal, setFatal] = useState("");
  const [error, setError] = useState("");
  const [current, setCurrent] = useState<{ c: Case; loaded: Loaded } | null>(null);
  const [queue, setQueue] = useState<Case[]>([]);
  const [loading, setLoading] = useState(true);
  const [emptyNote, setEmptyNote] = useState("");
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [decided, setDecided] = useState(0);
  const commentBox = useRef<HTMLTextAreaElement>(null);
  // input id -> when my decision on it was answered: a REVIEW_START asked before that may still list it
  const handled = useRef(new Map<string, number>());
  const state = useRef({ info, current, queue, comment, busy });
  state.current = { info, current, queue, comment, busy };

  useEffect(() => {
    loadTask(ref, props.task).then(setInfo).catch((e) => setFatal(explain(e)));
  }, [ref, props.task]);

  useEffect(() => {
    if (info) void refill(true);
  }, [info]);

  async function refill(showFirst = false): Promise<void> {
    const i = state.current.info!;
    setLoading(true);
    try {
      const askedAt = performance.now();
      const got = await api.put(assignmentsPath(i), { action: "REVIEW_START" });
      setEmptyNote(emptyReason(got)); // cleared once the task hands out work again
      const groups = new Map<string, { input: any; workers: string[] }>();
      for (const a of got.task_assignments ?? []) {
        if ((handled.current.get(a.input.id) ?? -1) >= askedAt) continue;
        const g = groups.get(a.input.id) ?? { input: a.input, workers: [] };
        if (!g.workers.includes(a.worker.user.id)) g.workers.push(a.worker.user.id);
        groups.set(a.input.id, g);
      }
      const have = new Set([...state.current.queue.map((c) => c.inputId), state.current.current?.c.inputId]);
      const fresh: Case[] = [...groups.entries()]
        .filter(([id]) => !have.has(id))
        .map(([id, g]) => ({ inputId: id, input: g.input, workers: g.workers, ready: load(i, g.input, g.workers) }));
      await enqueue(state.current, setQueue, fresh, showFirst, advance);
    } catch (e) {
      setError(explain(e));
    } finally {
      setLoading(false);
    }
  }

  async function advance(q: Case[], fromRefill = false): Promise<void> {
    const [c, ...rest] = q;
    setQueued(state.current, setQueue, rest);
    setComment("");
    if (!c) {
      setCurrent(null);
      if (!fromRefill) void refill(true);
      return;
    }
    setCurrent({ c, loaded: await c.ready });
    setError("");
  }

  async function decide(action: "REVIEW_APPROVE" | "REVIEW_REQUEST_CHANGES" | "REVIEW_REJECT", worker?: string): Promise<void> {
    const { current: cur, info: i, comment: text, busy: b } = state.current;
    if (!cur || !i || b) return;
    if (action === "REVIEW_REQUEST_CHANGES" && !text.trim()) {
      setError("Write what the labeler should change, then choose “Request changes” again.");
      commentBox.current?.focus();
      return;
    }
    const body: Record<string, unknown> = { action, input_id: cur.c.inputId };
    const notes = text.trim() ? [{ input: { id: cur.c.inputId }, status: { description: text.trim() } }] : [];
    if (action === "REVIEW_APPROVE") body.review_approve_config = worker ? { workers: [{ user: { id: worker } }] } : {};
    if (action === "REVIEW_REQUEST_CHANGES") body.review_request_changes_config = { task_assignments: notes };
    if (action === "REVIEW_REJECT") body.review_reject_config = { task_assignments: notes };
    state.current.busy = true; // before the re-render: a second key press must not decide twice
    setBusy(true);
    try {
      await api.put(assignmentsPath(i), body);
      handled.current.set(cur.c.inputId, performance.now());
      setDecided((d) => d + 1);
      await advance(state.current.queue);
    } catch (e) {
      setError(`Not recorded. ${explain(e)}`);
    } finally {
      state.current.busy = false;
      setBusy(false);
    }
  }

  useShortcuts((e) => {
    const k = e.key.toLowerCase();
    if (k === "a") void decide("REVIEW_APPROVE");
    else if (k === "c") void decide("REVIEW_REQUEST_CHANGES");
    else if (k === "r") void decide("REVIEW_REJECT");
    else return;
    e.preventDefault();
  });

  if (fatal) return <CannotOpen title="Cannot open this review" error={fatal} />;

  const conceptIds = info?.concepts.map((c) => c.id) ?? [];
  const nameOf = (id: string) => info?.concepts.find((c) => c.id === id)?.name ?? id;
  const versions = current?.loaded.versions ?? [];
  const workers = versions.map((v) => v.worker);
  const agreed = agreedKeys(versions);
  const consensus = info?.task.review?.strategy === "CONSENSUS";
  const drawable = current && (current.loaded.media.kind === "image" || current.loaded.media.kind === "video");

  return (
    <div class="workbench review">
      <aside class="panel left" aria-label="Review">
        <div class="task-head">
          <a class="back" href="/work" onClick={(e) => linkTo(e, "/work")}>
            ← My work
          </a>
          <h1 class="task-title">Review · {info?.task.name || props.task}</h1>
          <p class="small counter" aria-live="polite">
            {current ? (
              <>
                Input <span class="mono" data-testid="input-id">{current.c.inputId}</span> · {queue.length} more waiting · {decided} decided
              </>
            ) : (
              `${decided} decided`
            )}
          </p>
        </div>
        {current && info && (
          <div class="why" role="note" aria-label="Why this input is in review">
            <strong>Why in review:</strong> {whyInReview(info, current.loaded)}
          </div>
        )}
        <label class="field">
          Comment for the labeler
          <textarea
            ref={commentBox}
            value={comment}
            onInput={(e) => setComment(e.currentTarget.value)}
            placeholder="Needed to request changes; sent with a rejection too."
            disabled={!current}
          />
        </label>
        <div class="review-actions">
          <button class="good" type="button" disabled={!current || busy} onClick={() => void decide("REVIEW_APPROVE")}>
            Approve <kbd>A</kbd>
          </button>
          <button class="warn" type="button" disabled={!current || busy} onClick={() => void decide("REVIEW_REQUEST_CHANGES")}>
            Request changes <kbd>C</kbd>
          </button>
          <button class="bad" type="button" disabled={!current || busy} onClick={() => void decide("REVIEW_REJECT")}>
            Reject <kbd>R</kbd>
          </button>
        </div>
        <p class="hint">
          Approve accepts the work; request changes sends it back to its labelers with your comment; reject denies it and
          gives the input to someone else.
        </p>
      </aside>
      <section class="stage-area" aria-label="Labelers' versions">
        <ErrorBanner error={error} onClose={() => setError("")} />
        {current && (
          <div class="versions" style={{ gridTemplateColumns: `repeat(${Math.min(3, Math.max(1, versions.length))}, minmax(0, 1fr))` }}>
            {versions.map((v) => (
              <div class="version" key={v.worker} style={{ "--c": colourFor(workers, v.worker) }} data-worker={v.worker}>
                <header>
                  <span>
                    <span class="swatch" aria-hidden="true" /> <strong>{v.worker}</strong>
                    <span class="muted small"> · {v.regions.length} regions</span>
                  </span>
                  {consensus && versions.length > 1 && (
                    <button type="button" class="good" disabled={busy} onClick={() => void decide("REVIEW_APPROVE", v.worker)}>
                      Approve this version
                    </button>
                  )}
                </header>
                {drawable ? (
                  <div class="stage-box">
                    <Surface
                      media={current.loaded.media}
                      regions={v.regions}
                      version={0}
                      label={`${v.worker}'s version of ${current.c.inputId}`}
                      options={{
                        readOnly: true,
                        colour: () => colourFor(workers, v.worker),
                        label: (r) => (agreed.has(r.key) ? `✓ ${nameOf(r.concept)}` : nameOf(r.concept)),
                        onChange: () => undefined,
                        onSelect: () => undefined,
                        newConcept: () => "",
                      }}
                    />
                  </div>
                ) : (
                  <div class="text-input">{current.loaded.media.kind === "text" ? current.loaded.media.text : ""}</div>
                )}
                <div class="tags" aria-label={`Concepts ticked by ${v.worker}`}>
                  {v.concepts.length ? (
                    v.concepts.map((c) => (
                      <span class="pill" key={c} style={{ background: colourFor(conceptIds, c) + "55" }}>
                        {nameOf(c)}
                      </span>
                    ))
                  ) : (
                    <span class="muted">no concepts ticked</span>
                  )}
                </div>
              </div>
            ))}
          </div>
        )}
        {!current && !loading && (
          <QueueEmpty
            title="Nothing to review"
            reason={emptyNote}
            note="No submitted work is waiting for you in this task. Check back when labelers have submitted more."
            onRefill={() => void refill(true)}
          />
        )}
        {!current && loading && <div class="empty">Loading the review queue…</div>}
        {agreed.size > 0 && <p class="hint legend">✓ marks regions every labeler drew (same concept, overlap ≥ 50 %).</p>}
      </section>
    </div>
  );
}
