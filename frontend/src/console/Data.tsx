// An app's data: upload (drag and drop or URL list, into a dataset), the inputs grid with
// thumbnails, filters and paging, datasets (create, add/remove the selection) and concepts.

import { useEffect, useState } from "preact/hooks";
import { api, appPath, explain, type AppRef } from "../api";
import { ErrorBanner, Pager } from "../ui";
import { ANNOTATED, inputsPage, inputsTotal, newestOnly, thumb, type Filter } from "./inputpage";
import { droppedFiles, uploadFiles, uploadUrls, type FileResult } from "./upload";

const PER_PAGE = 48;

const NO_FILTER = { dataset: "", concept: "", metaKey: "", metaValue: "", status: "", annotated: "" };

/** The search filters the grid's controls stand for (none: the plain ListInputs). */
function searchFilters(f: typeof NO_FILTER): Filter[] {
  const out: Filter[] = [];
  if (f.concept) out.push({ annotation: { data: { concepts: [{ id: f.concept, value: 1 }] } } });
  if (f.metaKey) out.push({ input: { data: { metadata: { [f.metaKey]: f.metaValue } } } });
  if (f.dataset) out.push({ input: { dataset_ids: [f.dataset] } });
  if (f.status) out.push({ input: { status: { code: Number(f.status) } } });
  if (f.annotated) out.push({ negate: f.annotated === "no", annotation: { annotation_info: ANNOTATED } });
  return out;
}

export function Data({ ref_ }: { ref_: AppRef }) {
  const [error, setError] = useState("");
  const [datasets, setDatasets] = useState<any[]>([]);
  const [concepts, setConcepts] = useState<any[]>([]);
  const [filter, setFilterState] = useState(NO_FILTER);
  const [page, setPage] = useState(1);
  const [inputs, setInputs] = useState<any[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [target, setTarget] = useState("");
  const [stamp, setStamp] = useState(0);
  const refresh = () => setStamp((n) => n + 1);
  const guard = (p: Promise<unknown>) => p.catch((e) => setError(explain(e)));
  const setFilter = (f: typeof NO_FILTER) => (setFilterState(f), setPage(1));

  // Each effect keeps only the answers of its newest run: a filter chosen while an upload is on its
  // way and the refresh after the upload both list inputs, and the older answer may arrive last.
  useEffect(
    newestOnly((live) => {
      guard(api.get(appPath(ref_, "/datasets?per_page=500")).then(live((g) => setDatasets(g.datasets ?? []))));
      guard(api.get(appPath(ref_, "/concepts?per_page=500")).then(live((g) => setConcepts(g.concepts ?? []))));
    }),
    [stamp],
  );

  // the total is counted once per filter (and after a change), not for every page
  useEffect(
    newestOnly((live) => {
      setTotal(null);
      guard(inputsTotal(ref_, searchFilters(filter)).then(live(setTotal)));
    }),
    [filter, stamp],
  );

  useEffect(
    newestOnly((live) => guard(inputsPage(ref_, searchFilters(filter), page, PER_PAGE).then(live(setInputs)))),
    [filter, page, stamp],
  );

  const toggle = (id: string) => {
    const s = new Set(selected);
    s.has(id) ? s.delete(id) : s.add(id);
    setSelected(s);
  };
  const moveSelection = async (add: boolean) => {
    if (!target) return setError("Choose a dataset first.");
    const ids = [...selected];
    try {
      const path = appPath(ref_, `/datasets/${encodeURIComponent(target)}/inputs`);
      if (add) await api.post(path, { dataset_inputs: ids.map((id) => ({ input: { id } })) });
      else await api.del(path, { input_ids: ids });
      setSelected(new Set());
      refresh();
    } catch (e) {
      setError(explain(e));
    }
  };
  return (
    <section aria-label="Data">
      <ErrorBanner error={error} onClose={() => setError("")} />
      <div class="two-col">
        <Uploader ref_={ref_} datasets={datasets} onDone={refresh} />
        <div class="panel-box">
          <DatasetsBox ref_={ref_} datasets={datasets} onChange={refresh} onError={setError} />
          <ConceptsBox ref_={ref_} concepts={concepts} onChange={refresh} onError={setError} />
        </div>
      </div>
      <div class="filters" role="search" aria-label="Filter inputs">
        <label>
          Dataset
          <select name="f-dataset" value={filter.dataset} onChange={(e) => setFilter({ ...filter, dataset: e.currentTarget.value })}>
            <option value="">All inputs</option>
            {datasets.map((d) => (
              <option key={d.id} value={d.id}>{d.id}</option>
            ))}
          </select>
        </label>
        <label>
          Concept
          <select name="f-concept" value={filter.concept} onChange={(e) => setFilter({ ...filter, concept: e.currentTarget.value })}>
            <option value="">Any</option>
            {concepts.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name || c.id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Metadata key
          <input name="f-meta-key" value={filter.metaKey} onChange={(e) => setFilter({ ...filter, metaKey: e.currentTarget.value })} />
        </label>
        <label>
          = value
          <input name="f-meta-value" value={filter.metaValue} onChange={(e) => setFilter({ ...filter, metaValue: e.currentTarget.value })} />
        </label>
        <label>
          Status
          <select name="f-status" value={filter.status} onChange={(e) => setFilter({ ...filter, status: e.currentTarget.value })}>
            <option value="">Any</option>
            <option value="30000">Processed</option>
            <option value="30001">Pending</option>
            <option value="30003">Downloading</option>
            <option value="30002">Failed</option>
          </select>
        </label>
        <label>
          Annotations
          <select name="f-annotated" value={filter.annotated} onChange={(e) => setFilter({ ...filter, annotated: e.currentTarget.value })}>
            <option value="">Any</option>
            <option value="yes">Has annotations</option>
            <option value="no">No annotations yet</option>
          </select>
        </label>
        <span class="count" data-testid="inputs-total" aria-live="polite">
          {total === null ? "counting…" : `${total.toLocaleString("en")} input${total === 1 ? "" : "s"}`}
        </span>
      </div>
      <div class="selection-bar">
        <span>{selected.size} selected</span>
        <select aria-label="Dataset for the selection" value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
          <option value="">— dataset —</option>
          {datasets.map((d) => (
            <option key={d.id} value={d.id}>{d.id}</option>
          ))}
        </select>
        <button type="button" disabled={!selected.size} onClick={() => moveSelection(true)}>
          Add to dataset
        </button>
        <button type="button" disabled={!selected.size} onClick={() => moveSelection(false)}>
          Remove from dataset
        </button>
      </div>
      <ul class="thumbs" data-testid="inputs-grid">
        {inputs.map((i) => (
          <li key={i.id} class={selected.has(i.id) ? "sel" : ""}>
            <label>
              <input type="checkbox" checked={selected.has(i.id)} onChange={() => toggle(i.id)} aria-label={`Select ${i.id}`} />
              {thumb(i) ? <img src={thumb(i)} alt={i.id} loading="lazy" /> : <div class="no-thumb">{i.data?.text?.raw?.slice(0, 60) ?? "no preview"}</div>}
              <span class="mono small">{i.id}</span>
            </label>
          </li>
        ))}
      </ul>
      {!inputs.length && <div class="empty">No inputs match. Drop files above to upload some.</div>}
      <Pager page={page} total={total ?? 0} perPage={PER_PAGE} onPage={setPage} label="Inputs pages" jump />
    </section>
  );
}

function Uploader({ ref_, datasets, onDone }: { ref_: AppRef; datasets: any[]; onDone(): void }) {
  const [dataset, setDataset] = useState("");
  const [results, setResults] = useState<FileResult[]>([]);
  const [total, setTotal] = useState(0);
  const [over, setOver] = useState(false);
  const [urls, setUrls] = useState("");
  const [error, setError] = useState("");
  const run = async (files: File[]) => {
    if (!files.length) return;
    setTotal(files.length);
    setResults([]);
    const got: FileResult[] = [];
    await uploadFiles(ref_, files, dataset, (r) => {
      got.push(r);
      setResults([...got]);
    });
    onDone();
  };
  const failed = results.filter((r) => !r.ok);
  return (
    <div class="panel-box">
      <h3>Upload</h3>
      <label>
        Into dataset
        <select name="upload-dataset" value={dataset} onChange={(e) => setDataset(e.currentTarget.value)}>
          <option value="">(none)</option>
          {datasets.map((d) => (
            <option key={d.id} value={d.id}>{d.id}</option>
          ))}
        </select>
      </label>
      <label
        class={`dropzone${over ? " over" : ""}`}
        data-testid="dropzone"
        onDragOver={(e) => (e.preventDefault(), setOver(true))}
        onDragLeave={() => setOver(false)}
        onDrop={async (e) => {
          e.preventDefault();
          setOver(false);
          await run(await droppedFiles(e.dataTransfer!));
        }}
      >
        <b>Drop images, videos or folders here</b>
        <span class="muted small">or click to choose files</span>
        <input type="file" multiple class="sr-only" name="files" onChange={(e) => run([...(e.currentTarget.files ?? [])])} />
      </label>
      {total > 0 && (
        <div class="progress-wrap">
          <progress max={total} value={results.length} aria-label="Upload progress" />
          <span class="small" data-testid="upload-status">
            {results.length} / {total} uploaded{failed.length ? `, ${failed.length} failed` : ""}
          </span>
          {failed.length > 0 && (
            <ul class="file-errors">
              {failed.map((f) => (
                <li key={f.name}>
                  <b>{f.name}</b>: {f.error}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <details>
        <summary>Add by URL list</summary>
        <textarea name="urls" aria-label="URLs, one a line" placeholder="one URL a line" value={urls} onInput={(e) => setUrls(e.currentTarget.value)} />
        <ErrorBanner error={error} />
        <button
          type="button"
          onClick={async () => {
            setError("");
            try {
              await uploadUrls(ref_, urls.split(/\s+/).filter(Boolean), dataset);
              setUrls("");
              onDone();
            } catch (e) {
              setError(explain(e));
            }
          }}
        >
          Add URLs
        </button>
      </details>
    </div>
  );
}

function DatasetsBox(props: { ref_: AppRef; datasets: any[]; onChange(): void; onError(e: string): void }) {
  const [id, setId] = useState("");
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      await api.post(appPath(props.ref_, "/datasets"), { datasets: [{ id: id.trim() }] });
      setId("");
      props.onChange();
    } catch (err) {
      props.onError(explain(err));
    }
  };
  return (
    <div>
      <h3>Datasets</h3>
      <ul class="chips">
        {props.datasets.map((d) => (
          <li key={d.id}>{d.id}</li>
        ))}
      </ul>
      <form class="inline-form" onSubmit={create}>
        <input name="new-dataset" aria-label="New dataset id" placeholder="new dataset id" value={id} onInput={(e) => setId(e.currentTarget.value)} required />
        <button type="submit">Create dataset</button>
      </form>
    </div>
  );
}

function ConceptsBox(props: { ref_: AppRef; concepts: any[]; onChange(): void; onError(e: string): void }) {
  const [id, setId] = useState("");
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      await api.post(appPath(props.ref_, "/concepts"), { concepts: [{ id: id.trim(), name: id.trim() }] });
      setId("");
      props.onChange();
    } catch (err) {
      props.onError(explain(err));
    }
  };
  const rename = async (c: any) => {
    const name = prompt(`New name of concept ${c.id}`, c.name || c.id);
    if (!name) return;
    try {
      await api.patch(appPath(props.ref_, "/concepts"), { action: "overwrite", concepts: [{ id: c.id, name }] });
      props.onChange();
    } catch (err) {
      props.onError(explain(err));
    }
  };
  return (
    <div>
      <h3>Concepts</h3>
      <ul class="chips">
        {props.concepts.map((c) => (
          <li key={c.id}>
            <button type="button" class="ghost" title="Rename" onClick={() => rename(c)}>
              {c.name || c.id} ✎
            </button>
          </li>
        ))}
      </ul>
      <form class="inline-form" onSubmit={create}>
        <input name="new-concept" aria-label="New concept id" placeholder="new concept id" value={id} onInput={(e) => setId(e.currentTarget.value)} required />
        <button type="submit">Create concept</button>
      </form>
    </div>
  );
}
