// The stage list editor of one dataset: names, due times (hours after a task becomes Ready, or a
// fixed time), order, add/remove, and the workflow flags (auto-reassign, attribute units). Saved with
// PUT /api/v2/datasets/{id}/stages; the API's validation errors land beside the field they name
// (e.g. "stages[1].due_in_hours: ..." beside the second stage's due hours).

import { useEffect, useState } from "preact/hooks";
import { api, ApiError, explain, type AppRef } from "../api";
import { ErrorBanner } from "../ui";
import { datasetPath } from "./StagedShared";

interface StageRow {
  key: number;
  name: string;
  hours: string;
  dueAt: string;
}

const FLAGS: [string, string, string][] = [
  ["auto_reassign", "Auto-reassign", "move overdue, unstarted work to the least-loaded assignee of its stage"],
  ["frame_attributes", "Frame attributes", "one extra work unit per input (frame) for its attributes"],
  ["dataset_attributes", "Dataset attributes", "one work unit for the dataset's own attributes"],
];

let nextKey = 1;
const rowOf = (s: any): StageRow => ({
  key: nextKey++,
  name: s.name ?? "",
  hours: s.due_in_hours == null ? "" : String(s.due_in_hours),
  dueAt: s.due_at ?? "",
});

/** Which field an error of the stages endpoint names: `stages[i].name`, `stages[i]...`, a flag, or the list. */
export function stageErrorField(message: string): string {
  const m = /stages\[(\d+)\](?:\.(name|due_in_hours|due_at))?/.exec(message);
  if (m) return `${m[1]}.${m[2] ?? "name"}`;
  const flag = FLAGS.find(([k]) => message.startsWith(k));
  return flag ? flag[0] : "stages";
}

export function StagedStages({ ref_, dataset, onSaved }: { ref_: AppRef; dataset: string; onSaved(): void }) {
  const [rows, setRows] = useState<StageRow[] | null>(null);
  const [flags, setFlags] = useState<Record<string, boolean>>({});
  const [err, setErr] = useState<{ field: string; text: string } | null>(null);
  const [loadError, setLoadError] = useState("");
  const [saved, setSaved] = useState("");
  const [busy, setBusy] = useState(false);
  const show = (got: any) => {
    setRows((got.stages ?? []).map(rowOf));
    setFlags(Object.fromEntries(FLAGS.map(([k]) => [k, !!got[k]])));
  };
  useEffect(() => {
    setRows(null);
    api.get(datasetPath(ref_, dataset, "/stages")).then(show, (e) => setLoadError(explain(e)));
  }, [dataset]);

  const edit = (i: number, patch: Partial<StageRow>) => {
    setSaved("");
    setRows(rows!.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  };
  const move = (i: number, by: number) => {
    const next = [...rows!];
    [next[i], next[i + by]] = [next[i + by], next[i]];
    setRows(next);
    setSaved("");
  };
  const save = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    setSaved("");
    setBusy(true);
    const stages = rows!.map((r) => {
      const s: Record<string, unknown> = { name: r.name };
      if (r.hours.trim()) s.due_in_hours = Number(r.hours);
      if (r.dueAt.trim()) s.due_at = r.dueAt.trim();
      return s;
    });
    try {
      show(await api.put(datasetPath(ref_, dataset, "/stages"), { stages, ...flags }));
      setSaved("Saved.");
      onSaved();
    } catch (e2) {
      const text = explain(e2);
      setErr({ field: e2 instanceof ApiError ? stageErrorField(e2.description) : "stages", text });
    } finally {
      setBusy(false);
    }
  };
  const fieldErr = (field: string) =>
    err?.field === field ? (
      <span class="field-error" role="alert" data-field={field}>
        {err.text}
      </span>
    ) : null;

  if (loadError) return <ErrorBanner error={loadError} />;
  if (!rows) return <p class="muted">Loading the stages…</p>;
  return (
    <form class="panel-box stage-editor" onSubmit={save} aria-label="Stages">
      <h3>Stages of {dataset}</h3>
      <p class="muted small">
        Every work unit passes through these stages in order. Names and order can change until work starts; due
        times and the options below at any time. A due time is hours after a task becomes Ready, or a fixed time (ISO
        8601, e.g. 2026-12-31T18:00:00Z).
      </p>
      <ol class="stage-rows">
        {rows.map((r, i) => (
          <li key={r.key} data-stage={i}>
            <span class="stage-no" aria-hidden="true">
              {i + 1}
            </span>
            <label>
              Name
              <input name={`stage-name-${i}`} value={r.name} onInput={(e) => edit(i, { name: e.currentTarget.value })} />
              {fieldErr(`${i}.name`)}
            </label>
            <label>
              Due in hours
              <input
                name={`stage-hours-${i}`}
                inputMode="decimal"
                placeholder="none"
                value={r.hours}
                onInput={(e) => edit(i, { hours: e.currentTarget.value })}
              />
              {fieldErr(`${i}.due_in_hours`)}
            </label>
            <label>
              or due at
              <input name={`stage-due-${i}`} placeholder="none" value={r.dueAt} onInput={(e) => edit(i, { dueAt: e.currentTarget.value })} />
              {fieldErr(`${i}.due_at`)}
            </label>
            <span class="stage-buttons">
              <button type="button" aria-label={`Move stage ${i + 1} up`} disabled={i === 0} onClick={() => move(i, -1)}>
                ↑
              </button>
              <button type="button" aria-label={`Move stage ${i + 1} down`} disabled={i === rows.length - 1} onClick={() => move(i, 1)}>
                ↓
              </button>
              <button
                type="button"
                class="danger"
                aria-label={`Remove stage ${i + 1}`}
                disabled={rows.length === 1}
                onClick={() => (setRows(rows.filter((_, j) => j !== i)), setSaved(""))}
              >
                Remove
              </button>
            </span>
          </li>
        ))}
      </ol>
      {fieldErr("stages")}
      <button type="button" onClick={() => setRows([...rows, rowOf({ name: "" })])}>
        + Add stage
      </button>
      <div class="stage-flags">
        {FLAGS.map(([key, text, hint]) => (
          <div key={key}>
            <label class="check">
              <input
                type="checkbox"
                name={key}
                checked={flags[key]}
                onChange={(e) => (setFlags({ ...flags, [key]: e.currentTarget.checked }), setSaved(""))}
              />
              <span>
                {text} <span class="muted small">— {hint}</span>
              </span>
            </label>
            {fieldErr(key)}
          </div>
        ))}
      </div>
      <div class="form-actions">
        <button class="primary" type="submit" disabled={busy}>
          Save stages
        </button>
        {saved && (
          <span class="muted" role="status">
            {saved}
          </span>
        )}
      </div>
    </form>
  );
}
