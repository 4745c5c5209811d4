// The annotation browser: inputs that have annotations, filtered by task, status, author and
// concept (PostInputsSearches with one annotation filter, paged and counted by the server), each
// with its annotation counts; open one to see every annotation drawn over it, one colour per author.

import { useEffect, useMemo, useState } from "preact/hooks";
import { api, appPath, explain, query, type AppRef } from "../api";
import { Surface } from "../canvas/Surface";
import { loadMedia, type Media } from "../media";
import { colourFor, framesFromJson, regionsFromJson, type Region } from "../regions";
import { linkTo } from "../router";
import { ErrorBanner, Pager } from "../ui";
import { consolePath } from "./Console";
import { ANNOTATED, inputsPage, inputsTotal, newestOnly, thumb } from "./inputpage";

const PER_PAGE = 24;

/** Annotation statuses a labeling project sees (code → words). */
export const STATUSES: [number, string][] = [
  [24151, "Pending (labeled, in a task)"],
  [24157, "Awaiting review"],
  [24159, "Awaiting consensus review"],
  [24150, "Success"],
  [24158, "Review denied"],
];
const STATUS_NAMES: Record<string, number> = {
  ANNOTATION_PENDING: 24151,
  ANNOTATION_AWAITING_REVIEW: 24157,
  ANNOTATION_AWAITING_CONSENSUS_REVIEW: 24159,
  ANNOTATION_SUCCESS: 24150,
  ANNOTATION_REVIEW_DENIED: 24158,
};
const statusCode = (a: any): number => {
  const c = a.status?.code;
  return typeof c === "number" ? c : STATUS_NAMES[c] ?? Number(c);
};
const statusWords = (code: number) => STATUSES.find(([c]) => c === code)?.[1] ?? `status ${code}`;

interface Criteria {
  task: string;
  status: string;
  user: string;
  concept: string;
}
const NONE: Criteria = { task: "", status: "", user: "", concept: "" };
// kept while the console is open, so "back to the list" returns to the same filters and page
let remembered = { criteria: NONE, page: 1 };

/** The one annotation filter the criteria make; with none, "has an annotation a person made". */
function annotationFilter(c: Criteria): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  if (c.task) f.task_id = c.task;
  if (c.user) f.user_id = c.user;
  if (c.status) f.status = { code: Number(c.status) };
  if (c.concept) f.data = { concepts: [{ id: c.concept, value: 1 }] };
  return Object.keys(f).length ? f : { annotation_info: ANNOTATED };
}

/** Whether one annotation meets the criteria (the same rule the server's filter applies). */
function meets(a: any, c: Criteria): boolean {
  if (c.task && a.task_id !== c.task) return false;
  if (c.user && a.user_id !== c.user) return false;
  if (c.status && statusCode(a) !== Number(c.status)) return false;
  if (c.concept && !conceptsOf(a).includes(c.concept)) return false;
  return true;
}

function conceptsOf(a: any): string[] {
  const ids = (cs: any[] | undefined) => (cs ?? []).filter((x) => (x.value ?? 1) > 0).map((x) => x.id as string);
  return [
    ...ids(a.data?.concepts),
    ...(a.data?.regions ?? []).flatMap((r: any) => ids(r.data?.concepts)),
    ...(a.data?.frames ?? []).flatMap((f: any) => (f.data?.regions ?? []).flatMap((r: any) => ids(r.data?.concepts))),
  ];
}

/** Who made an annotation: the user, or the model version. */
const authorOf = (a: any): string => a.user_id || (a.model_version_id ? `model ${a.model_version_id}` : "unknown");

/** The people (owner and collaborators), tasks and concepts of the app, for the filters and names. */
function useAppLists(ref_: AppRef, onError: (e: string) => void) {
  const [lists, setLists] = useState({ users: [] as string[], tasks: [] as any[], concepts: [] as any[] });
  useEffect(() => {
    Promise.all([
      api.get(appPath(ref_, "/collaborators?per_page=500")),
      api.get(appPath(ref_, `/tasks${query({ per_page: 500 })}`)),
      api.get(appPath(ref_, "/concepts?per_page=500")),
    ]).then(
      ([c, t, k]) =>
        setLists({
          users: [c.app_owner?.id ?? ref_.owner, ...(c.collaborators ?? []).map((x: any) => x.user?.id)].filter(Boolean),
          tasks: t.tasks ?? [],
          concepts: k.concepts ?? [],
        }),
      (e) => onError(explain(e)),
    );
  }, [ref_.owner, ref_.app]);
  return lists;
}

export function Annotations({ ref_, inputId }: { ref_: AppRef; inputId?: string }) {
  const [error, setError] = useState("");
  const lists = useAppLists(ref_, setError);
  return (
    <section aria-label="Annotations">
      <ErrorBanner error={error} onClose={() => setError("")} />
      {inputId ? (
        <AnnotatedInput key={inputId} ref_={ref_} inputId={inputId} concepts={lists.concepts} onError={setError} />
      ) : (
        <AnnotationBrowser ref_={ref_} lists={lists} onError={setError} />
      )}
    </section>
  );
}

function AnnotationBrowser(props: { ref_: AppRef; lists: ReturnType<typeof useAppLists>; onError(e: string): void }) {
  const { ref_, lists } = props;
  const [criteria, setCriteriaState] = useState(remembered.criteria);
  const [page, setPage] = useState(remembered.page);
  const [inputs, setInputs] = useState<any[] | null>(null);
  const [anns, setAnns] = useState<any[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const setCriteria = (c: Criteria) => (setCriteriaState(c), setPage(1));
  remembered = { criteria, page };
  const filters = [{ annotation: annotationFilter(criteria) }];
  const fail = (e: unknown) => props.onError(explain(e));

  // each effect keeps only the answers of its newest run (filters changed in quick succession)
  useEffect(
    newestOnly((live) => {
      setTotal(null);
      inputsTotal(ref_, filters).then(live(setTotal), fail);
    }),
    [criteria],
  );

  useEffect(
    newestOnly((live) => {
      setInputs(null);
      (async () => {
        const page_ = await inputsPage(ref_, filters, page, PER_PAGE);
        const ids = page_.map((i) => i.id);
        // every annotation of this page's inputs, one request (counted per input below)
        const got = ids.length ? await api.get(appPath(ref_, `/annotations${query({ input_ids: ids, per_page: 1000 })}`)) : {};
        return [page_, got.annotations ?? []] as const;
      })().then(
        live(([page_, anns_]: readonly [any[], any[]]) => (setInputs(page_), setAnns(anns_))),
        fail,
      );
    }),
    [criteria, page],
  );

  const byInput = useMemo(() => {
    const m = new Map<string, any[]>();
    for (const a of anns) m.set(a.input_id, [...(m.get(a.input_id) ?? []), a]);
    return m;
  }, [anns]);
  const any = Object.values(criteria).some(Boolean);
  const select = (name: keyof Criteria, label: string, options: [string, string][], anyText: string) => (
    <label>
      {label}
      <select name={`a-${name}`} value={criteria[name]} onChange={(e) => setCriteria({ ...criteria, [name]: e.currentTarget.value })}>
        <option value="">{anyText}</option>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <>
      <div class="filters" role="search" aria-label="Filter annotations">
        {select("task", "Task", lists.tasks.map((t) => [t.id, t.name || t.id]), "Any task")}
        {select("status", "Status", STATUSES.map(([c, w]) => [String(c), w]), "Any status")}
        {select("user", "Author", lists.users.map((u) => [u, u]), "Anyone")}
        {select("concept", "Concept", lists.concepts.map((c) => [c.id, c.name || c.id]), "Any concept")}
        <span class="count" data-testid="annotated-total" aria-live="polite">
          {total === null ? "counting…" : `${total.toLocaleString("en")} input${total === 1 ? "" : "s"} with ${any ? "matching " : ""}annotations`}
        </span>
      </div>
      <ul class="thumbs annotated" data-testid="annotated-grid">
        {(inputs ?? []).map((i) => {
          const all = byInput.get(i.id) ?? [];
          const hits = all.filter((a) => meets(a, criteria));
          const authors = [...new Set(all.map(authorOf))];
          const to = consolePath(ref_, "annotations", i.id);
          return (
            <li key={i.id} data-input={i.id}>
              <a href={to} onClick={(e) => linkTo(e, to)} aria-label={`Open ${i.id}: ${all.length} annotations`}>
                {thumb(i) ? <img src={thumb(i)} alt="" loading="lazy" /> : <div class="no-thumb">{i.data?.text?.raw?.slice(0, 60) ?? "no preview"}</div>}
                <span class="mono small">{i.id}</span>
                <span class="small" data-testid="ann-count">
                  <b>{all.length}</b> annotation{all.length === 1 ? "" : "s"}
                  {any && <span class="muted"> · {hits.length} match</span>}
                </span>
                <span class="authors" aria-label="authors">
                  {authors.map((u) => (
                    <span key={u} class="dot" style={{ "--c": colourFor(authors, u) }} title={u} />
                  ))}
                </span>
              </a>
            </li>
          );
        })}
      </ul>
      {inputs !== null && !inputs.length && (
        <div class="empty">{any ? "No input has annotations that match these filters." : "No input has annotations yet."}</div>
      )}
      {inputs === null && <div class="empty">Loading…</div>}
      <Pager page={page} total={total ?? 0} perPage={PER_PAGE} onPage={setPage} label="Annotated inputs pages" jump />
    </>
  );
}

interface Opened {
  input: any;
  media: Media;
  anns: any[];
}

function AnnotatedInput(props: { ref_: AppRef; inputId: string; concepts: any[]; onError(e: string): void }) {
  const { ref_, inputId } = props;
  const [opened, setOpened] = useState<Opened | null>(null);
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  useEffect(() => {
    (async () => {
      const [got, list] = await Promise.all([
        api.get(appPath(ref_, `/inputs/${encodeURIComponent(inputId)}`)),
        api.get(appPath(ref_, `/annotations${query({ input_ids: [inputId], per_page: 1000 })}`)),
      ]);
      setOpened({ input: got.input, media: await loadMedia(got.input?.data), anns: list.annotations ?? [] });
    })().catch((e) => props.onError(explain(e)));
  }, [inputId]);

  const authors = useMemo(() => [...new Set((opened?.anns ?? []).map(authorOf))], [opened]);
  const regions: Region[] = useMemo(
    () =>
      (opened?.anns ?? [])
        .filter((a) => !hidden.has(authorOf(a)))
        .flatMap((a) => [
          ...regionsFromJson(a.data?.regions, authorOf(a)),
          ...[...framesFromJson(a.data?.frames, 0, authorOf(a)).values()].flat(),
        ]),
    [opened, hidden],
  );
  const nameOf = (id: string) => props.concepts.find((c) => c.id === id)?.name || id;
  const back = consolePath(ref_, "annotations");
  const media = opened?.media;
  const drawable = media && (media.kind === "image" || media.kind === "video");
  return (
    <div class="annotated-input">
      <div class="viewer">
        <p class="crumbs">
          <a href={back} onClick={(e) => linkTo(e, back)} class="back">
            ← All annotated inputs
          </a>{" "}
          <span class="mono" data-testid="input-id">
            {inputId}
          </span>
        </p>
        <div class="viewer-box">
          {!opened && <div class="empty">Loading…</div>}
          {drawable && (
            <div class="stage-box">
              <Surface
                media={media}
                regions={regions}
                version={hidden.size}
                label={`${inputId} with every annotation`}
                options={{
                  readOnly: true,
                  colour: (r) => colourFor(authors, r.owner ?? ""),
                  label: (r) => `${nameOf(r.concept)} · ${r.owner}`,
                  onChange: () => undefined,
                  onSelect: () => undefined,
                  newConcept: () => "",
                }}
              />
            </div>
          )}
          {media?.kind === "text" && <div class="text-input">{media.text}</div>}
          {media?.kind === "none" && <div class="empty">{media.reason}</div>}
        </div>
      </div>
      <aside class="panel-box legend-panel" aria-label="Authors">
        <h3>Authors</h3>
        {opened && !authors.length && <p class="muted">Nobody has annotated this input.</p>}
        <ul class="legend-list" data-testid="authors">
          {authors.map((u) => {
            const mine = opened!.anns.filter((a) => authorOf(a) === u);
            const concepts = [...new Set(mine.flatMap(conceptsOf))];
            const regionCount = mine.reduce((n, a) => n + (a.data?.regions?.length ?? 0), 0);
            return (
              <li key={u} data-author={u} data-colour={colourFor(authors, u)} style={{ "--c": colourFor(authors, u) }}>
                <label class="legend-row">
                  <input
                    type="checkbox"
                    checked={!hidden.has(u)}
                    aria-label={`Show ${u}'s annotations`}
                    onChange={() => {
                      const h = new Set(hidden);
                      h.has(u) ? h.delete(u) : h.add(u);
                      setHidden(h);
                    }}
                  />
                  <span class="swatch" aria-hidden="true" />
                  <b>{u}</b>
                  <span class="muted small">
                    {mine.length} annotation{mine.length === 1 ? "" : "s"}, {regionCount} region{regionCount === 1 ? "" : "s"}
                  </span>
                </label>
                <div class="legend-detail small">
                  {concepts.length ? concepts.map((c) => (
                    <span class="pill" key={c}>
                      {nameOf(c)}
                    </span>
                  )) : <span class="muted">no concepts</span>}
                  {[...new Set(mine.map(statusCode))].map((c) => (
                    <span class="muted" key={c}>
                      {" "}
                      · {statusWords(c)}
                    </span>
                  ))}
                  {[...new Set(mine.map((a) => a.task_id).filter(Boolean))].map((t) => (
                    <span class="muted" key={t}>
                      {" "}
                      · task {t}
                    </span>
                  ))}
                </div>
              </li>
            );
          })}
        </ul>
      </aside>
    </div>
  );
}
