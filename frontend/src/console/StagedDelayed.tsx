// Delayed tasks of the app: staged tasks past their due time (not Submitted/Accepted), most overdue
// first, with who holds them and how late, and a reassign action per task (the new holder gets the
// stage's due time: a fixed due time of the unit is dropped).
// GET /api/v2/clients/{owner}/delayed_tasks?app_id={app}; reassign = POST .../file_tasks|label_tasks.

import { useEffect, useState } from "preact/hooks";
import { api, explain, query, type AppRef } from "../api";
import { ErrorBanner, Pager } from "../ui";
import { assignTasks, lateBy, StatePill, unitName, type Member } from "./StagedShared";

const PER_PAGE = 25;

export function StagedDelayed(props: { ref_: AppRef; members: Member[]; stamp: number; onChange(): void }) {
  const { ref_, members } = props;
  const [page, setPage] = useState(1);
  const [data, setData] = useState<any | null>(null);
  const [error, setError] = useState("");
  const [picks, setPicks] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState("");
  useEffect(() => {
    const q = query({ app_id: ref_.app, page, per_page: PER_PAGE });
    api
      .get(`/api/v2/clients/${encodeURIComponent(ref_.owner)}/delayed_tasks${q}`)
      .then(setData, (e) => (setError(explain(e)), setData({ delayed_tasks: [], total: 0 })));
  }, [page, props.stamp]);
  const reassign = async (t: any) => {
    setError("");
    setBusy(t.id);
    try {
      await assignTasks(ref_, [t], picks[t.id], null); // the new holder gets the stage's due time
      props.onChange();
    } catch (e) {
      setError(`Could not reassign ${unitName(t)} (${t.stage}): ${explain(e)}`);
    } finally {
      setBusy("");
    }
  };
  const tasks: any[] = data?.delayed_tasks ?? [];
  const assignable = members.filter((m) => m.email);
  return (
    <section class="panel-box" aria-labelledby="delayed-title">
      <h3 id="delayed-title">
        Delayed tasks {data && <span class="muted small">({data.total} in this app, most overdue first)</span>}
      </h3>
      <ErrorBanner error={error} onClose={() => setError("")} />
      {data && !tasks.length && <p class="muted">Nothing is overdue. Tasks past their due time show up here.</p>}
      {tasks.length > 0 && (
        <table class="grid" aria-label="Delayed tasks" data-testid="delayed-tasks">
          <thead>
            <tr>
              <th scope="col">Work unit</th>
              <th scope="col">Dataset</th>
              <th scope="col">Stage</th>
              <th scope="col">State</th>
              <th scope="col">Held by</th>
              <th scope="col">Due</th>
              <th scope="col">Late by</th>
              <th scope="col" class="actions">
                Reassign
              </th>
            </tr>
          </thead>
          <tbody>
            {tasks.map((t) => {
              const pick = picks[t.id] ?? "";
              return (
                <tr key={t.id} data-task={t.id} class="overdue">
                  <th scope="row" class="mono">
                    {unitName(t)}
                  </th>
                  <td>{t.dataset_id}</td>
                  <td>{t.stage}</td>
                  <td>
                    <StatePill state={t.state} />
                  </td>
                  <td data-testid="holder">{t.assignee_user_id ?? <span class="muted">nobody</span>}</td>
                  <td>{new Date(t.due_at).toLocaleString()}</td>
                  <td class="overdue-note" data-testid="late">
                    {lateBy(t.overdue_seconds)}
                  </td>
                  <td class="actions">
                    <select
                      aria-label={`New assignee for ${unitName(t)} (${t.stage})`}
                      value={pick}
                      onChange={(e) => setPicks({ ...picks, [t.id]: e.currentTarget.value })}
                    >
                      <option value="">— member —</option>
                      {assignable
                        .filter((m) => m.email !== t.assignee)
                        .map((m) => (
                          <option key={m.id} value={m.email}>
                            {m.id}
                          </option>
                        ))}
                    </select>
                    <button type="button" disabled={!pick || busy === t.id} onClick={() => reassign(t)}>
                      Reassign
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <Pager page={page} total={data?.total ?? 0} perPage={PER_PAGE} onPage={setPage} label="Delayed task pages" />
    </section>
  );
}
