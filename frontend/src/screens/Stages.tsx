import { useEffect, useState } from "preact/hooks";
import { api, explain, query } from "../api";
import { ErrorBanner } from "../ui";
import { myApps } from "./MyWork";

const PER_PAGE = 20;
/** History actions whose reason the assignee should read (a QA rejection reaches them as send_back). */
const SENT_BACK = new Set(["reject", "send_back", "reset"]);
type Action = "start" | "submit" | "accept" | "reject";

const ACTION_TEXT: Record<Action, string> = { start: "Start", submit: "Submit", accept: "Accept", reject: "Reject" };
const ACTION_CLASS: Record<Action, string> = { start: "", submit: "primary", accept: "good", reject: "bad" };

/** The staged workflow (/api/v2): my tasks in the apps of one client (app owner), with their actions. */
export function Stages() {
  const [clients, setClients] = useState<string[] | null>(null);
  const [client, setClient] = useState("");
  const [page, setPage] = useState(1);
  const [data, setData] = useState<any | null>(null);
  const [error, setError] = useState("");
  const [rejecting, setRejecting] = useState<any | null>(null);
  const [reason, setReason] = useState("");
  const [reasonError, setReasonError] = useState("");
  const [busy, setBusy] = useState("");
  const [tick, setTick] = useState(0);

  useEffect(() => {
    myApps()
      .then((apps) => {
        const owners = [...new Set(apps.map((a) => a.owner))];
        setClients(owners);
        setClient(owners[0] ?? "");
      })
      .catch((e) => setError(explain(e)));
  }, []);

  useEffect(() => {
    if (!client) return;
    setData(null);
    api
      .get(`/api/v2/clients/${encodeURIComponent(client)}/user_tasks${query({ page, per_page: PER_PAGE })}`)
      .then(setData)
      .catch((e) => {
        setError(explain(e));
        setData({ file_tasks: [], label_tasks: [] });
      });
  }, [client, page, tick]);

  async function act(task: any, action: Action, why?: string): Promise<void> {
    setBusy(task.id + action);
    setError("");
    try {
      await api.post(`/api/v2/tasks/${encodeURIComponent(task.id)}/${action}`, why ? { reason: why } : {});
      setRejecting(null);
      setReason("");
      setReasonError("");
      setTick((t) => t + 1);
    } catch (e) {
      const msg = `Could not ${action} ${task.stage} task ${task.file_id ?? task.label_id ?? task.id}. ${explain(e)}`;
      if (action === "reject") setReasonError(msg);
      else setError(msg);
    } finally {
      setBusy("");
    }
  }

  const tasks: any[] = data ? [...(data.file_tasks ?? []), ...(data.label_tasks ?? [])] : [];
  const total = data ? (data.total_file_tasks ?? 0) + (data.total_label_tasks ?? 0) : 0;
  const more = data && ((data.file_tasks ?? []).length >= PER_PAGE || (data.label_tasks ?? []).length >= PER_PAGE);
  const overdue = tasks.filter((t) => t.delayed).length;

  return (
    <section class="page" aria-labelledby="stages-title">
      <h1 id="stages-title">My stage tasks</h1>
      <p class="muted">
        Work units assigned to you in the staged workflow (Labelling → QA …). Overdue tasks are highlighted.
      </p>
      <div class="filters">
        {clients && clients.length > 1 && (
          <label>
            Workspace (app owner)
            <select value={client} onChange={(e) => { setClient(e.currentTarget.value); setPage(1); }}>
              {clients.map((c) => (
                <option key={c} value={c}>{c}</option>
              ))}
            </select>
          </label>
        )}
        {data && (
          <span class="muted small" aria-live="polite">
            {total} {total === 1 ? "task" : "tasks"}{overdue ? ` · ${overdue} overdue on this page` : ""}
          </span>
        )}
        <button type="button" onClick={() => setTick((t) => t + 1)}>Refresh</button>
      </div>
      <ErrorBanner error={error} onClose={() => setError("")} />
      {clients && clients.length === 0 && (
        <div class="empty"><h2>No workspaces</h2><p>You are not a member of any app yet. Ask an app owner to add you as a collaborator.</p></div>
      )}
      {client && !data && <p class="muted">Loading your stage tasks…</p>}
      {data && tasks.length === 0 && (
        <div class="empty">
          <h2>Nothing assigned to you</h2>
          <p>When the owner of <strong>{client}</strong>'s datasets assigns you work (by your email), it shows up here.</p>
        </div>
      )}
      {tasks.length > 0 && (
        <table class="grid" aria-label="My stage tasks">
          <thead>
            <tr>
              <th scope="col">Work unit</th>
              <th scope="col">Dataset</th>
              <th scope="col">Stage</th>
              <th scope="col">State</th>
              <th scope="col">Due</th>
              <th scope="col"><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {tasks.map((t) => {
              const unit = t.file_id ?? (t.label_id ? `${t.sequence_id} / ${t.label_id}` : t.type.replace("_", " "));
              const note = [...(t.history ?? [])].reverse().find((h: any) => h.reason && SENT_BACK.has(h.action));
              return (
                <tr key={t.id} class={t.delayed ? "overdue" : ""} data-task={t.id}>
                  <th scope="row">
                    <div class="task-name mono">{unit}</div>
                    <div class="muted small">{t.type} · {t.app_id}</div>
                    {note && (
                      <div class="small notice-inline">
                        Sent back by {note.by}: “{note.reason}”
                      </div>
                    )}
                  </th>
                  <td>{t.dataset_id}</td>
                  <td>{t.stage}</td>
                  <td><span class={`pill ${t.state.replace(" ", "-")}`}>{t.state}</span></td>
                  <td>
                    {t.due_at ? new Date(t.due_at).toLocaleString() : <span class="muted">—</span>}
                    {t.delayed && <div class="overdue-note small">overdue {formatSeconds(t.overdue_seconds)}</div>}
                  </td>
                  <td class="actions">
                    {(t.allowed_actions ?? []).map((a: Action) => (
                      <button
                        key={a}
                        type="button"
                        class={ACTION_CLASS[a]}
                        disabled={!!busy}
                        aria-label={`${ACTION_TEXT[a]} ${unit} (${t.stage})`}
                        onClick={() => {
                          if (a !== "reject") return void act(t, a);
                          setReasonError("");
                          setRejecting(t);
                        }}
                      >
                        {ACTION_TEXT[a]}
                      </button>
                    ))}
                    {!(t.allowed_actions ?? []).length && <span class="muted small">no action for you</span>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {(page > 1 || more) && (
        <nav class="pager" aria-label="Stage task pages">
          <button type="button" disabled={page <= 1} onClick={() => setPage(page - 1)}>← Previous</button>
          <span>Page {page}</span>
          <button type="button" disabled={!more} onClick={() => setPage(page + 1)}>Next →</button>
        </nav>
      )}
      {rejecting && (
        <div class="dialog-backdrop">
          <div class="card dialog" role="dialog" aria-modal="true" aria-labelledby="reject-title">
          <form
            class="dialog-form"
            onSubmit={(e) => {
              e.preventDefault();
              if (!reason.trim()) {
                setReasonError("A reason is required to reject: say what the labeler should fix.");
                return;
              }
              void act(rejecting, "reject", reason.trim());
            }}
            onKeyDown={(e) => e.key === "Escape" && setRejecting(null)}
          >
            <h2 id="reject-title">Reject {rejecting.file_id ?? rejecting.id}</h2>
            <label class="field">
              Reason (required)
              <textarea
                value={reason}
                onInput={(e) => {
                  setReason(e.currentTarget.value);
                  setReasonError("");
                }}
                autoFocus
                aria-required="true"
              />
            </label>
            <ErrorBanner error={reasonError} />
            <div class="submit-row">
              <button type="submit" class="bad">Reject</button>
              <button type="button" onClick={() => setRejecting(null)}>Cancel</button>
            </div>
          </form>
          </div>
        </div>
      )}
    </section>
  );
}

function formatSeconds(s: number | undefined): string {
  if (!s) return "";
  if (s < 3600) return `by ${Math.round(s / 60)} min`;
  if (s < 86400) return `by ${Math.round(s / 3600)} h`;
  return `by ${Math.round(s / 86400)} days`;
}
