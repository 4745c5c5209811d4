import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, appPath, explain } from "../api";
import type { Annotator, Tool } from "../canvas/annotator";
import { Surface } from "../canvas/Surface";
import { loadMedia, seek, type Media } from "../media";
import {
  colourFor,
  framesFromJson,
  framesToJson,
  prelabelsFromJson,
  regionsFromJson,
  regionToJson,
  untouchedPrelabel,
  type FrameRegions,
  type Region,
} from "../regions";
import { linkTo } from "../router";
import { session } from "../session";
import { annotationsOf, assignmentsPath, emptyReason, enqueue, loadTask, setQueued, type TaskInfo } from "../taskinfo";
import { CannotOpen, ErrorBanner, QueueEmpty, useShortcuts } from "../ui";

const ANNOTATION_PENDING = 24151;

/** One input handed out by LABEL_START, with what it needs on screen (loaded ahead of time). */
interface Item {
  assignment: any;
  input: any;
  ready: Promise<Prepared>;
  settled: boolean; // ready has resolved: showing it waits for nothing
}

interface Prepared {
  media: Media;
  /** My earlier annotations of this task on the input: edited in place, extra ones removed.
   * Without any, an image starts from the task's pre-labels (the assistant model's suggestions). */
  annotationIds: string[];
  concepts: Set<string>;
  /** Concepts the assistant model suggested (image-level pre-labels): id -> "model (value)". */
  suggestedConcepts: Map<string, string>;
  /** The input's pre-labels are not ready yet (the model has not reached it). */
  prelabelPending: boolean;
  frames: FrameRegions; // frame 0 holds an image's regions
}

async function prepare(info: TaskInfo, input: any, me: string): Promise<Prepared> {
  const [media, mine] = await Promise.all([loadMedia(input.data), annotationsOf(info, input.id, me)]);
  const concepts = new Set<string>();
  const frames: FrameRegions = new Map();
  for (const a of mine) {
    for (const c of a.data?.concepts ?? []) if ((c.value ?? 1) > 0) concepts.add(c.id);
    const regs = regionsFromJson(a.data?.regions);
    if (regs.length) frames.set(0, [...(frames.get(0) ?? []), ...regs]);
    for (const [i, r] of framesFromJson(a.data?.frames, info.sampleMs)) frames.set(i, [...(frames.get(i) ?? []), ...r]);
  }
  const suggested = mine.length || media.kind !== "image" ? [] : prelabelsFromJson(input.data?.regions);
  if (suggested.length) frames.set(0, suggested);
  const marker = input.data?.metadata?.prelabel ?? {};
  const suggestedConcepts = new Map<string, string>();
  if (!mine.length) {
    for (const c of marker.concepts ?? []) {
      concepts.add(c.id);
      suggestedConcepts.set(c.id, `${marker.model_id || "model"} (${Math.round((c.value ?? 0) * 100)}%)`);
    }
  }
  const prelabelPending = !mine.length && marker.state === "pending";
  return { media, annotationIds: mine.map((a) => a.id), concepts, suggestedConcepts, prelabelPending, frames };
}

const TOOL_KEYS: Record<string, Tool> = { v: "select", b: "box", p: "polygon" };

/** Whether the task's labelers draw regions (every type but whole-input classification). */
function drawsRegions(info: TaskInfo): boolean {
  return info.task.type !== "CONCEPTS_CLASSIFICATION";
}

export function Label(props: { owner: string; app: string; task: string }) {
  const me = session()!.userId;
  const ref = useMemo(() => ({ owner: props.owner, app: props.app }), [props.owner, props.app]);
  const [info, setInfo] = useState<TaskInfo | null>(null);
  const [fatal, setFatal] = useState("");
  const [error, setError] = useState("");
  const [queue, setQueue] = useState<Item[]>([]);
  const [current, setCurrent] = useState<{ item: Item; prep: Prepared } | null>(null);
  const [loadingQueue, setLoadingQueue] = useState(true);
  const [emptyNote, setEmptyNote] = useState("");
  const [ticked, setTicked] = useState<Set<string>>(new Set());
  const [regions, setRegions] = useState<Region[]>([]);
  const [version, setVersion] = useState(0);
  const [selected, setSelected] = useState<string | null>(null);
  const [tool, setToolState] = useState<Tool>("box");
  const [active, setActive] = useState("");
  const [frame, setFrame] = useState(0);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(0);
  const annotator = useRef<Annotator | null>(null);
  const frames = useRef<FrameRegions>(new Map());
  // input id -> when its LABEL_SUBMIT was answered: a LABEL_START asked before that may still list it
  const submitted = useRef(new Map<string, number>());
  const skipped = useRef<string[]>([]);
  const refilling = useRef<Promise<void> | null>(null);
  const state = useRef({ queue, current, busy, ticked, info, frame, selected });
  state.current = { queue, current, busy, ticked, info, frame, selected };

  // ------------------------------------------------------------------ loading

  useEffect(() => {
    loadTask(ref, props.task)
      .then((i) => {
        setInfo(i);
        setActive(i.concepts[0]?.id ?? "");
        setToolState(i.task.type === "POLYGON_DETECTION" ? "polygon" : i.task.type === "CONCEPTS_CLASSIFICATION" ? "select" : "box");
      })
      .catch((e) => setFatal(explain(e)));
  }, [ref, props.task]);

  useEffect(() => {
    if (info) void refill(true);
  }, [info]);

  /** LABEL_START: my unfinished inputs first, then new ones (up to 10); keeps what is queued. */
  function refill(showFirst = false): Promise<void> {
    if (refilling.current) return refilling.current;
    const i = state.current.info!;
    setLoadingQueue(true);
    const run = (async () => {
      try {
        const askedAt = performance.now();
        const got = await api.put(assignmentsPath(i), { action: "LABEL_START" });
        const stale = (id: string) => (submitted.current.get(id) ?? -1) >= askedAt;
        setEmptyNote(emptyReason(got)); // cleared once the task hands out work again
        const have = new Set(state.current.queue.map((q) => q.input.id));
        if (state.current.current) have.add(state.current.current.item.input.id);
        const fresh: Item[] = (got.task_assignments ?? [])
          .filter((a: any) => !stale(a.input.id) && !have.has(a.input.id))
          .map((a: any) => prefetched(a, prepare(i, a.input, me)));
        // skipped inputs go last
        fresh.sort((a, b) => skipped.current.indexOf(a.input.id) - skipped.current.indexOf(b.input.id));
        await enqueue(state.current, setQueue, fresh, showFirst, advance);
      } catch (e) {
        setError(explain(e));
      } finally {
        setLoadingQueue(false);
        refilling.current = null;
      }
    })();
    refilling.current = run;
    return run;
  }

  /** A queued input whose media and annotations load now, so that showing it later waits for nothing. */
  function prefetched(assignment: any, ready: Promise<Prepared>): Item {
    const item: Item = { assignment, input: assignment.input, ready, settled: false };
    ready.then(
      () => {
        item.settled = true;
        markReadyAhead();
      },
      () => undefined, // shown (and explained) when the labeler reaches it
    );
    return item;
  }

  /** How many queued inputs are prepared (for tests: the next one is, before the labeler submits). */
  function markReadyAhead(): void {
    document.body.dataset.readyAhead = String(state.current.queue.filter((q) => q.settled).length);
  }

  /** Put the next queued item on screen (already loaded, so this is immediate). */
  async function advance(q: Item[], fromRefill = false): Promise<void> {
    const [item, ...rest] = q;
    setQueued(state.current, setQueue, rest);
    markReadyAhead();
    if (item) document.body.dataset.shownPrepared = String(item.settled);
    if (!item) {
      setCurrent(null);
      setTicked(new Set()); // nothing on screen: no concept stays ticked for it
      state.current.current = null;
      if (fromRefill) return;
      // the queue ran dry: ask the server (more inputs may have been added, or more than 10 wait)
      await refill();
      if (state.current.queue.length) await advance(state.current.queue, true);
      return;
    }
    const prep = await item.ready;
    show(item, prep);
    if (rest.length <= 2) void refill();
  }

  function show(item: Item, prep: Prepared): void {
    frames.current = new Map([...prep.frames].map(([k, v]) => [k, [...v]]));
    setCurrent({ item, prep });
    setTicked(new Set(prep.concepts));
    setFrame(0);
    setRegions(frames.current.get(0) ?? []);
    setSelected(null);
    setVersion((v) => v + 1);
    setError("");
    requestAnimationFrame(() => {
      document.body.dataset.shownAt = String(performance.now());
    });
  }

  // ------------------------------------------------------------------ actions

  function annotationData(i: TaskInfo, prep: Prepared): Record<string, unknown> | null {
    const all = new Map(frames.current);
    all.set(state.current.frame, annotator.current?.getRegions() ?? regions);
    const concepts = [...state.current.ticked].map((id) => ({ id, value: 1 }));
    const data: Record<string, unknown> = {};
    if (concepts.length) data.concepts = concepts;
    if (prep.media.kind === "video") {
      const fr = framesToJson(all, i.sampleMs);
      if (fr.length) data.frames = fr;
    } else {
      const regs = (all.get(0) ?? []).map(regionToJson);
      if (regs.length) data.regions = regs;
    }
    return Object.keys(data).length ? data : null;
  }

  /** Save my annotation of the input (create, or overwrite my earlier one), then LABEL_SUBMIT. */
  async function submit(): Promise<void> {
    const { current: cur, busy: b, info: i } = state.current;
    if (!cur || b || !i) return;
    if (annotator.current?.isDrawingPolygon()) {
      annotator.current.closePolygon();
      return;
    }
    state.current.busy = true; // before the re-render: a second Enter must not submit twice
    setBusy(true);
    setError("");
    const started = performance.now();
    const { item, prep } = cur;
    const inputId = item.input.id;
    try {
      const data = annotationData(i, prep);
      const [first, ...extra] = prep.annotationIds;
      if (data && first) {
        await api.patch(appPath(i.ref, "/annotations"), {
          action: "overwrite",
          annotations: [{ id: first, input_id: inputId, data, annotation_info: { task_id: i.task.id } }],
        });
      } else if (data) {
        const got = await api.post(appPath(i.ref, "/annotations"), {
          annotations: [{ input_id: inputId, data, annotation_info: { task_id: i.task.id }, status: { code: ANNOTATION_PENDING } }],
        });
        // kept on the item: a retry after a failed LABEL_SUBMIT edits this one instead of adding another
        prep.annotationIds = [got.annotations[0].id];
      }
      const stale = data ? extra : prep.annotationIds;
      for (const id of stale) {
        await api.del(appPath(i.ref, `/inputs/${encodeURIComponent(inputId)}/annotations/${encodeURIComponent(id)}`));
      }
      prep.annotationIds = prep.annotationIds.filter((id) => !stale.includes(id));
      await api.put(assignmentsPath(i), { action: "LABEL_SUBMIT", input_id: inputId });
      submitted.current.set(inputId, performance.now());
      setDone((d) => d + 1);
      document.body.dataset.submitMs = (performance.now() - started).toFixed(1);
      const switchStart = performance.now();
      await advance(state.current.queue);
      requestAnimationFrame(() => {
        document.body.dataset.switchMs = (performance.now() - switchStart).toFixed(1);
      });
    } catch (e) {
      setError(`Not submitted — your work is still here. ${explain(e)}`);
    } finally {
      state.current.busy = false;
      setBusy(false);
    }
  }

  /** Skip: the input goes to the back of my queue (it stays mine; nothing is saved). */
  async function skip(): Promise<void> {
    const { current: cur, busy: b } = state.current;
    if (!cur || b) return;
    skipped.current = [...skipped.current.filter((x) => x !== cur.item.input.id), cur.item.input.id];
    const q = [...state.current.queue, ...(state.current.queue.length ? [cur.item] : [])];
    if (!state.current.queue.length) {
      setError("Nothing else is waiting: this is your last input. Label it or come back later.");
      return;
    }
    await advance(q);
  }

  function toggle(id: string): void {
    setTicked((t) => {
      const n = new Set(t);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
    setActive(id);
  }

  function setTool(t: Tool): void {
    setToolState(t);
    annotator.current?.setTool(t);
  }

  function setRegionConcept(key: string, concept: string): void {
    const now = annotator.current?.getRegions() ?? [];
    const next = now.map((r) => (r.key === key ? { ...r, concept } : r));
    setRegions(next);
    annotator.current?.setRegions(next, true);
  }

  async function goFrame(n: number): Promise<void> {
    const { current: cur, info: i } = state.current;
    if (!cur || cur.prep.media.kind !== "video" || !i) return;
    const max = Math.max(0, Math.floor((cur.prep.media.duration * 1000) / i.sampleMs));
    const to = Math.min(max, Math.max(0, n));
    frames.current.set(state.current.frame, annotator.current?.getRegions() ?? []);
    await seek(cur.prep.media.el, (to * i.sampleMs) / 1000);
    // the editor and the frame index change now, not at the next render's effect: a submit (Enter)
    // right after the frame label changes must not save the old frame's regions under the new one
    const shown = frames.current.get(to) ?? [];
    state.current.frame = to;
    annotator.current?.setRegions(shown);
    setFrame(to);
    setRegions(shown);
    setVersion((v) => v + 1);
    annotator.current?.refresh();
  }

  // ------------------------------------------------------------------ keyboard

  useShortcuts((e) => {
    const i = state.current.info;
    if (!i) return;
    const k = e.key;
    const digit = /^Digit[1-9]$/.test(e.code) ? Number(e.code.slice(5)) : 0;
    if (e.shiftKey && digit) {
      // Shift+n: the selected region takes the n-th concept
      const c = i.concepts[digit - 1];
      const key = state.current.selected;
      if (c && key) setRegionConcept(key, c.id);
    } else if (/^[1-9]$/.test(k)) {
      const c = i.concepts[Number(k) - 1];
      if (c) toggle(c.id);
    } else if (k === "Enter") {
      if ((e.target as HTMLElement)?.tagName === "BUTTON" || (e.target as HTMLElement)?.tagName === "A") return;
      e.preventDefault();
      void submit();
    } else if (k === "s" || k === "S") void skip();
    else if (TOOL_KEYS[k.toLowerCase()] && (TOOL_KEYS[k.toLowerCase()] === "select" || drawsRegions(i)))
      setTool(TOOL_KEYS[k.toLowerCase()]);
    else if (k === "Delete" || k === "Backspace") {
      if (annotator.current?.deleteSelected()) e.preventDefault();
    } else if (k === "Escape") {
      if (annotator.current?.isDrawingPolygon()) annotator.current.cancelPolygon();
      else annotator.current?.select(null);
    } else if (k === "+" || k === "=") annotator.current?.zoom(1.25);
    else if (k === "-") annotator.current?.zoom(0.8);
    else if (k === "0") annotator.current?.fit();
    else if (k === "ArrowRight" || k === ".") void goFrame(state.current.frame + 1);
    else if (k === "ArrowLeft" || k === ",") void goFrame(state.current.frame - 1);
  });

  // ------------------------------------------------------------------ view

  if (fatal) {
    return (
      <CannotOpen title="Cannot open this task" error={fatal}>
        <p>
          <a href="/work" onClick={(e) => linkTo(e, "/work")}>
            Back to my work
          </a>
        </p>
      </CannotOpen>
    );
  }
  const conceptIds = info?.concepts.map((c) => c.id) ?? [];
  const nameOf = (id: string) => info?.concepts.find((c) => c.id === id)?.name ?? id;
  const media = current?.prep.media ?? null;
  const comment = current?.item.assignment.status?.details;
  const drawable = media?.kind === "image" || media?.kind === "video";
  // classification tasks tag the whole input: no drawing tools (regions made earlier still show)
  const regionTools = drawable && !!info && drawsRegions(info);
  const regionPanel = drawable && (regionTools || regions.length > 0);
  const models = [...new Set(regions.map((r) => r.model).filter((m): m is string => !!m))];

  return (
    <div class={regionPanel ? "workbench" : "workbench two"}>
      <aside class="panel left" aria-label="Task and concepts">
        <div class="task-head">
          <a class="back" href="/work" onClick={(e) => linkTo(e, "/work")}>
            ← My work
          </a>
          <h1 class="task-title">{info?.task.name || props.task}</h1>
          {info?.task.description && <p class="muted small">{info.task.description}</p>}
          <p class="small counter" aria-live="polite">
            {current ? (
              <>
                Input <span class="mono" data-testid="input-id">{current.item.input.id}</span> · {queue.length} more queued ·{" "}
                {done} submitted
              </>
            ) : (
              `${done} submitted`
            )}
          </p>
        </div>
        <fieldset class="concepts">
          <legend>What is in it?</legend>
          {info?.concepts.map((c, n) => (
            <label class="concept" key={c.id} style={{ "--c": colourFor(conceptIds, c.id) }}>
              <input type="checkbox" checked={ticked.has(c.id)} onChange={() => toggle(c.id)} disabled={!current} />
              <span class="swatch" aria-hidden="true" />
              <span class="cname">{c.name}</span>
              {current?.prep.suggestedConcepts.has(c.id) && (
                <span class="badge model" title={`suggested by ${current.prep.suggestedConcepts.get(c.id)}`}>
                  model
                </span>
              )}
              {n < 9 && <kbd aria-label={`shortcut ${n + 1}`}>{n + 1}</kbd>}
            </label>
          ))}
          {current && current.prep.suggestedConcepts.size > 0 && (
            <p class="small" style={{ margin: "6px 8px 0", color: "var(--muted)" }} data-testid="concept-prelabel-legend">
              Marked <span class="badge model">model</span>: ticked by the task's model. Untick the wrong ones.
            </p>
          )}
          {current?.prep.prelabelPending && (
            <p class="small" style={{ margin: "6px 8px 0", color: "var(--muted)" }} data-testid="prelabel-pending">
              The model's suggestions for this input are not ready yet.
            </p>
          )}
        </fieldset>
        {regionTools && (
          <label class="field">
            New regions are
            <select value={active} onChange={(e) => setActive(e.currentTarget.value)}>
              {info?.concepts.map((c) => (
                <option value={c.id} key={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </label>
        )}
        <div class="submit-row">
          <button class="primary big" type="button" onClick={() => void submit()} disabled={!current || busy}>
            {busy ? "Submitting…" : "Submit"} <kbd>Enter</kbd>
          </button>
          <button type="button" onClick={() => void skip()} disabled={!current || busy}>
            Skip <kbd>S</kbd>
          </button>
        </div>
        <details class="help">
          <summary>Keyboard shortcuts</summary>
          <dl>
            <dt>1–9</dt><dd>tick a concept (and use it for new regions)</dd>
            <dt>Shift + 1–9</dt><dd>give the selected region that concept</dd>
            <dt>B / P / V</dt><dd>box, polygon, select &amp; move</dd>
            <dt>Enter</dt><dd>submit (closes a polygon being drawn)</dd>
            <dt>S</dt><dd>skip for now</dd>
            <dt>Delete</dt><dd>delete the selected region</dd>
            <dt>Esc</dt><dd>cancel the polygon / deselect</dd>
            <dt>wheel, + / − / 0</dt><dd>zoom, fit</dd>
            <dt>Space + drag</dt><dd>pan while drawing</dd>
            <dt>← / →</dt><dd>video: previous / next frame</dd>
          </dl>
        </details>
      </aside>

      <section class="stage-area" aria-label="Input">
        {drawable && (
          <div class="toolbar" role="toolbar" aria-label="Drawing tools">
            <ToolButton tool="select" current={tool} onPick={setTool} text="Select" keyName="V" />
            {regionTools && <ToolButton tool="box" current={tool} onPick={setTool} text="Box" keyName="B" />}
            {regionTools && <ToolButton tool="polygon" current={tool} onPick={setTool} text="Polygon" keyName="P" />}
            <span class="sep" />
            <button type="button" onClick={() => annotator.current?.zoom(1.25)} aria-label="Zoom in">+</button>
            <button type="button" onClick={() => annotator.current?.zoom(0.8)} aria-label="Zoom out">−</button>
            <button type="button" onClick={() => annotator.current?.fit()}>Fit</button>
            {media?.kind === "video" && info && (
              <span class="frames" aria-label="Video frames">
                <span class="sep" />
                <button type="button" onClick={() => void goFrame(frame - 1)} aria-label="Previous frame">◀</button>
                <span class="mono small" aria-live="polite">
                  frame {frame} · {((frame * info.sampleMs) / 1000).toFixed(2)} s
                </span>
                <button type="button" onClick={() => void goFrame(frame + 1)} aria-label="Next frame">▶</button>
              </span>
            )}
            {tool === "polygon" && <span class="hint small">click points · click the first point, double-click or Enter to close</span>}
          </div>
        )}
        <ErrorBanner error={error} onClose={() => setError("")} />
        {comment && (
          <div class="notice" role="status">
            <strong>Changes requested:</strong> {comment}
          </div>
        )}
        <div class="stage-box" hidden={!drawable}>
          <Surface
            media={drawable ? media : null}
            regions={regions}
            version={version}
            label={current ? `Input ${current.item.input.id}` : "No input"}
            onReady={(a) => {
              annotator.current = a;
              a.setTool(tool);
            }}
            options={{
              colour: (r) => colourFor(conceptIds, r.concept),
              label: (r) => (untouchedPrelabel(r) ? `${nameOf(r.concept)} · model` : nameOf(r.concept)),
              dashed: untouchedPrelabel,
              onChange: setRegions,
              onSelect: setSelected,
              newConcept: () => active || conceptIds[0] || "",
            }}
          />
        </div>
        {media?.kind === "text" && (
          <article class="text-input" aria-label="Text to classify">
            {media.text ? <p>{media.text}</p> : <a href={media.url} target="_blank" rel="noreferrer">Open the text</a>}
          </article>
        )}
        {media?.kind === "none" && <div class="empty">{media.reason}</div>}
        {!current && !loadingQueue && (
          <QueueEmpty
            title="All done here"
            reason={emptyNote}
            note="Nothing is waiting for you in this task right now. New inputs show up when they are added."
            onRefill={() => void refill(true)}
          />
        )}
        {!current && loadingQueue && <div class="empty" role="status">Loading your work…</div>}
      </section>

      {regionPanel && (
        <aside class="panel right" aria-label="Regions">
          <h2 class="panel-title">Regions {frameLabel(media, frame)}</h2>
          {regions.length === 0 && <p class="muted small">None yet. Draw a box (B) or a polygon (P) on the image.</p>}
          {models.length > 0 && (
            <p class="prelabel-legend small" data-testid="prelabel-legend">
              <span class="dash-sample" aria-hidden="true" />
              <span>
                Dashed, marked <span class="badge model">model</span>: suggested by {models.join(", ")}. Keep, adjust, relabel or delete them.
              </span>
            </p>
          )}
          <ul class="regions">
            {regions.map((r, n) => (
              <li key={r.key} class={r.key === selected ? "selected" : ""} style={{ "--c": colourFor(conceptIds, r.concept) }}>
                <button type="button" class="region-pick" onClick={() => { setTool("select"); annotator.current?.select(r.key); }} aria-label={`Select region ${n + 1}`}>
                  <span class="swatch" aria-hidden="true" />
                  {r.geometry.kind === "box" ? "Box" : `Polygon (${r.geometry.points.length})`}
                  {r.model && (untouchedPrelabel(r) ? <span class="badge model">model</span> : <span class="badge edited">edited</span>)}
                </button>
                <select aria-label={`Concept of region ${n + 1}`} value={r.concept} onChange={(e) => setRegionConcept(r.key, e.currentTarget.value)}>
                  {info?.concepts.map((c) => (
                    <option value={c.id} key={c.id}>
                      {c.name}
                    </option>
                  ))}
                </select>
                <button type="button" class="ghost danger" aria-label={`Delete region ${n + 1}`} onClick={() => { annotator.current?.select(r.key); annotator.current?.deleteSelected(); }}>
                  ×
                </button>
              </li>
            ))}
          </ul>
          <InputMeta input={current?.item.input} />
        </aside>
      )}
    </div>
  );
}

function frameLabel(media: Media | null, frame: number): string {
  return media?.kind === "video" ? `(frame ${frame})` : "";
}

function InputMeta({ input }: { input: any }) {
  const meta = input?.data?.metadata;
  if (!meta || !Object.keys(meta).length) return null;
  return (
    <details class="meta">
      <summary>Input metadata</summary>
      <pre>{JSON.stringify(meta, null, 2)}</pre>
    </details>
  );
}

export function ToolButton(props: { tool: Tool; current: Tool; onPick(t: Tool): void; text: string; keyName: string }) {
  return (
    <button type="button" class={props.current === props.tool ? "tool active" : "tool"} aria-pressed={props.current === props.tool} onClick={() => props.onPick(props.tool)}>
      {props.text} <kbd>{props.keyName}</kbd>
    </button>
  );
}
