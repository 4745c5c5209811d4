// Tasks of an app: the list (open a task's dashboard, edit, delete) and a form for every option
// of the tasks API (PostTasks / PatchTasks overwrite). An API error goes beside the field it names.

import { useEffect, useState } from "preact/hooks";
import { api, appPath, explain, query, type AppRef, ApiError } from "../api";
import { linkTo } from "../router";
import { ErrorBanner } from "../ui";
import { consolePath } from "./Console";
import { blankForm, fieldOf, formOf, taskOf, type TaskForm } from "./taskform";

export function Tasks({ ref_ }: { ref_: AppRef }) {
  const [tasks, setTasks] = useState<any[] | null>(null);
  const [error, setError] = useState("");
  const [editing, setEditing] = useState<TaskForm | null>(null);
  const load = () =>
    api.get(appPath(ref_, `/tasks${query({ per_page: 100, additional_fields: "metrics" })}`)).then(
      (got) => setTasks(got.tasks ?? []),
      (e) => setError(explain(e)),
    );
  useEffect(() => void load(), [ref_.owner, ref_.app]);
  const remove = async (id: string) => {
    if (!confirm(`Delete task ${id}? Its assignments go with it.`)) return;
    try {
      await api.del(appPath(ref_, "/tasks"), { ids: [id] });
      load();
    } catch (e) {
      setError(explain(e));
    }
  };
  return (
    <section aria-label="Tasks">
      <ErrorBanner error={error} onClose={() => setError("")} />
      {editing ? (
        <TaskEditor ref_={ref_} initial={editing} onDone={() => (setEditing(null), load())} />
      ) : (
        <div class="dash-head">
          <h2>Tasks</h2>
          <button class="primary" type="button" onClick={() => setEditing(blankForm())}>
            New task
          </button>
        </div>
      )}
      {tasks && !tasks.length && !editing && (
        <div class="empty">
          <h2>No tasks yet</h2>
          <p>Upload data under “Data”, then create a task for your labelers.</p>
        </div>
      )}
      {tasks && tasks.length > 0 && (
        <table class="grid">
          <thead>
            <tr>
              <th>Task</th>
              <th>Type</th>
              <th>Workers</th>
              <th>Review</th>
              <th>Labeled</th>
              <th class="actions">Actions</th>
            </tr>
          </thead>
          <tbody>
            {tasks.map((t) => {
              const to = consolePath(ref_, "tasks", t.id);
              return (
                <tr key={t.id}>
                  <td>
                    <a class="task-name" href={to} onClick={(e) => linkTo(e, to)}>
                      {t.name || t.id}
                    </a>
                    <div class="muted small mono">{t.id}</div>
                  </td>
                  <td>{t.type}</td>
                  <td>
                    {t.worker?.strategy} · {(t.worker?.user_ids ?? []).join(", ")}
                  </td>
                  <td>{t.review?.strategy ?? "NONE"}</td>
                  <td>{t.metrics?.work?.inputs_percent_estimated ?? 0} %</td>
                  <td class="actions">
                    <a class="button" href={to} onClick={(e) => linkTo(e, to)}>
                      Dashboard
                    </a>{" "}
                    <button type="button" onClick={() => setEditing(formOf(t))}>
                      Edit
                    </button>{" "}
                    <button type="button" class="danger" onClick={() => remove(t.id)}>
                      Delete
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function TaskEditor({ ref_, initial, onDone }: { ref_: AppRef; initial: TaskForm; onDone(): void }) {
  const [f, setF] = useState<TaskForm>(initial);
  const [concepts, setConcepts] = useState<any[]>([]);
  const [datasets, setDatasets] = useState<any[]>([]);
  const [searches, setSearches] = useState<any[]>([]);
  const [err, setErr] = useState<{ field: string; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const list = (p: string, k: string, set: (x: any[]) => void) =>
      api.get(appPath(ref_, `${p}?per_page=500`)).then((g) => set(g[k] ?? []), () => set([]));
    list("/concepts", "concepts", setConcepts);
    list("/datasets", "datasets", setDatasets);
    list("/searches", "searches", setSearches);
  }, []);
  const set = (patch: Partial<TaskForm>) => setF({ ...f, ...patch });
  const submit = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    setBusy(true);
    try {
      const task = taskOf(f);
      if (f.existing) await api.patch(appPath(ref_, "/tasks"), { action: "overwrite", tasks: [task] });
      else await api.post(appPath(ref_, "/tasks"), { tasks: [task] });
      onDone();
    } catch (e2) {
      const text = explain(e2);
      setErr({ field: e2 instanceof ApiError ? fieldOf(`${e2.description} ${e2.details}`) : "form", text });
    } finally {
      setBusy(false);
    }
  };
  const fieldErr = (name: string) =>
    err?.field === name ? (
      <span class="field-error" role="alert" data-field={name}>
        {err.text}
      </span>
    ) : null;
  const users = (s: string) => s.split(/[\s,]+/).filter(Boolean);
  return (
    <form class="task-form panel-box" onSubmit={submit} aria-label={f.existing ? "Edit task" : "New task"}>
      <h2>{f.existing ? `Edit task ${f.id}` : "New task"}</h2>
      <div class="form-grid">
        <label>
          Id (optional)
          <input name="id" value={f.id} disabled={f.existing} onInput={(e) => set({ id: e.currentTarget.value })} />
          {fieldErr("id")}
        </label>
        <label>
          Name
          <input name="name" value={f.name} onInput={(e) => set({ name: e.currentTarget.value })} />
        </label>
        <label>
          Type
          <select name="type" value={f.type} onChange={(e) => set({ type: e.currentTarget.value })}>
            <option value="CONCEPTS_CLASSIFICATION">Classification</option>
            <option value="BOUNDING_BOX_DETECTION">Bounding boxes</option>
            <option value="POLYGON_DETECTION">Polygons</option>
          </select>
          {fieldErr("type")}
        </label>
        <fieldset class="wide">
          <legend>Concepts</legend>
          <div class="checks">
            {concepts.map((c) => (
              <label key={c.id} class="check">
                <input
                  type="checkbox"
                  name="concept"
                  value={c.id}
                  checked={f.concepts.includes(c.id)}
                  onChange={(e) =>
                    set({ concepts: e.currentTarget.checked ? [...f.concepts, c.id] : f.concepts.filter((x) => x !== c.id) })
                  }
                />
                {c.name || c.id}
              </label>
            ))}
            {!concepts.length && <span class="muted small">No concepts yet: create them under Data.</span>}
          </div>
          {fieldErr("concepts")}
        </fieldset>
        <label>
          Input source
          <select name="source" value={f.source} onChange={(e) => set({ source: e.currentTarget.value, sourceId: "" })}>
            <option value="ALL_INPUTS">All inputs</option>
            <option value="DATASET">A dataset</option>
            <option value="SAVED_SEARCH">A saved search</option>
          </select>
          {fieldErr("source")}
        </label>
        {f.source !== "ALL_INPUTS" && (
          <label>
            {f.source === "DATASET" ? "Dataset" : "Saved search"}
            <select name="sourceId" value={f.sourceId} onChange={(e) => set({ sourceId: e.currentTarget.value })}>
              <option value="">— choose —</option>
              {(f.source === "DATASET" ? datasets : searches).map((d) => (
                <option key={d.id} value={d.id}>
                  {d.id}
                </option>
              ))}
            </select>
          </label>
        )}
        <fieldset class="wide">
          <legend>Workers</legend>
          <div class="form-grid">
            <label>
              Strategy
              <select name="strategy" value={f.strategy} onChange={(e) => set({ strategy: e.currentTarget.value })}>
                <option value="FULL">FULL — every worker labels every input</option>
                <option value="PARTITIONED">PARTITIONED — inputs split between workers</option>
                <option value="DYNAMIC">DYNAMIC — workers pull from a shared pool</option>
              </select>
            </label>
            <label>
              Worker user ids (comma separated)
              <input name="workers" value={f.workers.join(", ")} onInput={(e) => set({ workers: users(e.currentTarget.value) })} />
              {fieldErr("workers")}
            </label>
            {f.strategy !== "FULL" && (
              <label>
                Workers per input
                <input name="perInput" type="number" min={1} value={f.perInput} onInput={(e) => set({ perInput: Number(e.currentTarget.value) })} />
                {fieldErr("perInput")}
              </label>
            )}
            {f.strategy === "PARTITIONED" && (
              <label>
                Split
                <select name="split" value={f.split} onChange={(e) => set({ split: e.currentTarget.value })}>
                  <option value="EVENLY">Evenly</option>
                  <option value="WEIGHTED">Weighted</option>
                </select>
              </label>
            )}
            {f.strategy === "PARTITIONED" && f.split === "WEIGHTED" && (
              <div class="weights">
                {f.workers.map((w) => (
                  <label key={w}>
                    Weight of {w}
                    <input
                      type="number"
                      min={0}
                      step="any"
                      name={`weight-${w}`}
                      value={f.weights[w] ?? 1}
                      onInput={(e) => set({ weights: { ...f.weights, [w]: Number(e.currentTarget.value) } })}
                    />
                  </label>
                ))}
                {fieldErr("weights")}
              </div>
            )}
          </div>
        </fieldset>
        <fieldset class="wide">
          <legend>Review</legend>
          <div class="form-grid">
            <label>
              Strategy
              <select name="review" value={f.review} onChange={(e) => set({ review: e.currentTarget.value })}>
                <option value="NONE">NONE — no review</option>
                <option value="MANUAL">MANUAL — reviewers check a sample</option>
                <option value="CONSENSUS">CONSENSUS — labelers must agree</option>
              </select>
              {fieldErr("review")}
            </label>
            {f.review !== "NONE" && (
              <label>
                Reviewer user ids
                <input name="reviewers" value={f.reviewers.join(", ")} onInput={(e) => set({ reviewers: users(e.currentTarget.value) })} />
                {fieldErr("reviewers")}
              </label>
            )}
            {f.review === "MANUAL" && (
              <label>
                Sample %
                <input name="sample" type="number" min={0} max={100} value={f.sample} onInput={(e) => set({ sample: Number(e.currentTarget.value) })} />
                {fieldErr("sample")}
              </label>
            )}
            {f.review === "CONSENSUS" && (
              <>
                <label>
                  Labelers who must agree
                  <input name="threshold" type="number" min={1} value={f.threshold} onInput={(e) => set({ threshold: Number(e.currentTarget.value) })} />
                  {fieldErr("threshold")}
                </label>
                <label>
                  Reviewer approvals needed
                  <input name="thresholdReviewers" type="number" min={0} value={f.thresholdReviewers} onInput={(e) => set({ thresholdReviewers: Number(e.currentTarget.value) })} />
                  {fieldErr("thresholdReviewers")}
                </label>
              </>
            )}
          </div>
        </fieldset>
      </div>
      {fieldErr("form")}
      <div class="form-actions">
        <button class="primary" type="submit" disabled={busy}>
          {f.existing ? "Save changes" : "Create task"}
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
