// Bulk assignment: the dataset's staged tasks (filter by stage, state, assignee; paged), select many,
// pick a member and assign them (or unassign), optionally with a due time. Uses
// GET /api/v2/datasets/{id}/tasks and POST .../file_tasks | .../label_tasks with task ids.

import { useEffect, useState } from "preact/hooks";
import { api, explain, type AppRef } from "../api";
import { ErrorBanner, Pager } from "../ui";
import { assignTasks, Choice, datasetPath, lateBy, StatePill, unitName, type Member } from "./StagedShared";

const PER_PAGE = 50;
const STATES = ["Waiting", "Ready", "In progress", "Submitted", "Accepted", "Rejected"];

export function StagedAssign(props: { ref_: AppRef; dataset: string; stages: string[]; members: Member[]; stamp: number; onChange(): void }) {
  const { ref_, dataset, stages, members } = props;
  const [stage, setStage] = useState("");
  const [state, setState] = useState("");
  const [assignee, setAssignee] = useState("");
  const [page, setPage] = useState(1);
  const [data, setData] = useState<any | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [who, setWho] = useState("");
  const [dueAt, setDueAt] = useState("");
  const [error, setError] = useState("");
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const params = { stage: stage || undefined, state: state || undefined, assignee: assignee || undefined, page, per_page: PER_PAGE };
    api.get(datasetPath(ref_, dataset, "/tasks", params)).then(setData, (e) => (setError(explain(e)), setData({ tasks: [], total: 0 })));
  }, [dataset, stage, state, assignee, page, props.stamp]);
  useEffect(() => setSelected(new Set()), [dataset, stage, state, assignee, page]);

  const tasks: any[] = data?.tasks ?? [];
  const chosen = tasks.filter((t) => selected.has(t.id));
  const toggle = (id: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(id);
    else next.delete(id);
    setSelected(next);
  };
  const filter = (set: (v: string) => void) => (v: string) => {
    set(v);
    setPage(1);
  };
  const assign = async (email: string | null) => {
    setError("");
    setDone("");
    setBusy(true);
    try {
      await assignTasks(ref_, chosen, email, dueAt.trim() || undefined);
      setDone(`${email ? `Assigned to ${email}` : "Unassigned"}: ${chosen.length} ${chosen.length === 1 ? "task" : "tasks"}.`);
      setSelected(new Set());
      props.onChange();
    } catch (e) {
      setError(explain(e));
    } finally {
      setBusy(false);
    }
  };
  const assignable = members.filter((m) => m.email);

  return (
    <section class="panel-box" aria-labelledby="assign-title">
      <h3 id="assign-title">Assign work</h3>
      <div class="filters">
        <Choice label="Stage" name="f-stage" value={stage} empty="All stages" options={stages.map((s) => [s, s])} onChange={filter(setStage)} />
        <Choice label="State" name="f-state" value={state} empty="Any state" options={STATES.map((s) => [s, s])} onChange={filter(setState)} />
        <Choice label="Assignee" name="f-assignee" value={assignee} empty="Anyone" options={assignable.map((m) => [m.email, m.id])} onChange={filter(setAssignee)} />
        {data && (
          <span class="muted small" aria-live="polite">
            {data.total} {data.total === 1 ? "task" : "tasks"}
          </span>
        )}
      </div>
      <div class="selection-bar assign-bar">
        <span data-testid="selected-count">{chosen.length} selected</span>
        <Choice
          label="Assign to"
          name="assign-to"
          value={who}
          empty="— member —"
          options={assignable.map((m) => [m.email, `${m.id} (${m.email})`])}
          onChange={setWho}
        />
        <label>
          Due at (optional)
          <input name="assign-due" placeholder="2026-12-31T18:00:00Z" value={dueAt} onInput={(e) => setDueAt(e.currentTarget.value)} />
        </label>
        <button type="button" class="primary" disabled={busy || !chosen.length || !who} onClick={() => assign(who)}>
          Assign
        </button>
        <button type="button" disabled={busy || !chosen.length} onClick={() => assign(null)}>
          Unassign
        </button>
        {done && (
          <span role="status" class="ok-note">
            {done}
          </span>
        )}
      </div>
      {members.length > assignable.length && (
        <p class="muted small">
          Members without an email cannot get staged work: {members.filter((m) => !m.email).map((m) => m.id).join(", ")}.
        </p>
      )}
      <ErrorBanner error={error} onClose={() => setError("")} />
      {data && !tasks.length && (
        <div class="empty">
          <h2>No tasks here</h2>
          <p>Add inputs to dataset {dataset} under “Data”: each input becomes a work unit with one task per stage.</p>
        </div>
      )}
      {tasks.length > 0 && (
        <table class="grid" aria-label="Stage tasks of the dataset" data-testid="staged-tasks">
          <thead>
            <tr>
              <th scope="col">
                <input
                  type="checkbox"
                  aria-label="Select every task on this page"
                  checked={chosen.length === tasks.length}
                  onChange={(e) => setSelected(new Set(e.currentTarget.checked ? tasks.map((t) => t.id) : []))}
                />
              </th>
              <th scope="col">Work unit</th>
              <th scope="col">Stage</th>
              <th scope="col">State</th>
              <th scope="col">Assignee</th>
              <th scope="col">Due</th>
            </tr>
          </thead>
          <tbody>
            {tasks.map((t) => (
              <tr key={t.id} data-task={t.id} class={t.delayed ? "overdue" : ""}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Select ${unitName(t)} (${t.stage})`}
                    checked={selected.has(t.id)}
                    onChange={(e) => toggle(t.id, e.currentTarget.checked)}
                  />
                </td>
                <th scope="row">
                  <span class="mono">{unitName(t)}</span> <span class="muted small">{t.type}</span>
                </th>
                <td>{t.stage}</td>
                <td>
                  <StatePill state={t.state} />
                </td>
                <td data-testid="assignee">{t.assignee_user_id ?? <span class="muted">unassigned</span>}</td>
                <td>
                  {t.due_at ? new Date(t.due_at).toLocaleString() : <span class="muted">—</span>}
                  {t.delayed && <div class="overdue-note small">late by {lateBy(t.overdue_seconds)}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager page={page} total={data?.total ?? 0} perPage={PER_PAGE} onPage={setPage} label="Stage task pages" />
    </section>
  );
}
