import { useEffect, useState } from "preact/hooks";
import { api, appPath, explain, query, type AppRef } from "../api";
import { href, linkTo } from "../router";
import { session } from "../session";
import { Pager, pageOf } from "../ui";

interface Row {
  ref: AppRef;
  task: any;
  worker: boolean;
  reviewer: boolean;
}

const PER_PAGE = 10;

/** Apps the signed-in user can work in: an app key's app, or the apps they own or collaborate on. */
export async function myApps(): Promise<AppRef[]> {
  const s = session()!;
  if (s.app) return [s.app];
  const out: AppRef[] = [];
  for (let page = 1; page < 50; page++) {
    const got = await api.get(`/v2/users/${encodeURIComponent(s.userId)}/apps${query({ page, per_page: 100 })}`);
    const apps: any[] = got.apps ?? [];
    out.push(...apps.map((a) => ({ owner: a.user_id, app: a.id })));
    if (apps.length < 100) break;
  }
  return out;
}

async function tasksOf(ref: AppRef, me: string): Promise<Row[]> {
  const list = async (filter: string) =>
    (await api.get(appPath(ref, `/tasks${query({ [filter]: me, additional_fields: "progress", per_page: 100 })}`))).tasks ?? [];
  const [work, review] = await Promise.all([list("worker_user_ids"), list("review_user_ids")]);
  const rows = new Map<string, Row>();
  for (const t of work) rows.set(t.id, { ref, task: t, worker: true, reviewer: false });
  for (const t of review) {
    const row = rows.get(t.id) ?? { ref, task: t, worker: false, reviewer: false };
    row.reviewer = true;
    rows.set(t.id, row);
  }
  return [...rows.values()];
}

const TYPE_NAMES: Record<string, string> = {
  CONCEPTS_CLASSIFICATION: "Classification",
  BOUNDING_BOX_DETECTION: "Bounding boxes",
  POLYGON_DETECTION: "Polygons",
  TYPE_NOT_SET: "Labeling",
};

export function MyWork() {
  const me = session()!.userId;
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState("");
  const [page, setPage] = useState(1);

  useEffect(() => {
    (async () => {
      try {
        const apps = await myApps();
        const all = (await Promise.all(apps.map((a) => tasksOf(a, me)))).flat();
        all.sort((a, b) => (b.task.created_at ?? "").localeCompare(a.task.created_at ?? ""));
        setRows(all);
      } catch (e) {
        setError(explain(e));
      }
    })();
  }, [me]);

  return (
    <section class="page" aria-labelledby="work-title">
      <h1 id="work-title">My work</h1>
      <p class="muted">Labeling tasks where you are a worker or a reviewer, newest first.</p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {!rows && !error && <p class="muted">Loading your tasks…</p>}
      {rows && rows.length === 0 && (
        <div class="empty">
          <h2>No tasks for you yet</h2>
          <p>
            When an app owner adds you (<strong>{me}</strong>) as a worker or reviewer of a task, it shows up here. Staged
            work is under <a href="/stages" onClick={(e) => linkTo(e, "/stages")}>My stage tasks</a>.
          </p>
        </div>
      )}
      {rows && rows.length > 0 && (
        <>
          <table class="grid" aria-label="My tasks">
            <thead>
              <tr>
                <th scope="col">Task</th>
                <th scope="col">App</th>
                <th scope="col">Kind</th>
                <th scope="col">My progress</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {pageOf(rows, page, PER_PAGE).map((row) => (
                <TaskRow key={`${row.ref.owner}/${row.ref.app}/${row.task.id}`} row={row} me={me} />
              ))}
            </tbody>
          </table>
          <Pager page={page} total={rows.length} perPage={PER_PAGE} onPage={setPage} label="Task pages" />
        </>
      )}
    </section>
  );
}

function TaskRow({ row, me }: { row: Row; me: string }) {
  const { task, ref } = row;
  const counts: Record<string, number> = task.metadata?.progress?.[me] ?? {};
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const done = total - (counts.pending ?? 0) - (counts.started ?? 0) - (counts.in_progress ?? 0);
  const pct = total ? Math.round((100 * done) / total) : 0;
  const labelHref = href({ name: "label", owner: ref.owner, app: ref.app, task: task.id });
  const reviewHref = href({ name: "review", owner: ref.owner, app: ref.app, task: task.id });
  const name = task.name || task.id;
  return (
    <tr>
      <th scope="row">
        <div class="task-name">{name}</div>
        {task.description && <div class="muted small">{task.description}</div>}
      </th>
      <td>
        <span class="mono">
          {ref.owner}/{ref.app}
        </span>
      </td>
      <td>
        {TYPE_NAMES[task.type] ?? task.type}
        {task.review?.strategy && task.review.strategy !== "NONE" && (
          <div class="muted small">review: {task.review.strategy.toLowerCase()}</div>
        )}
      </td>
      <td>
        {row.worker ? (
          <div class="progress" title={Object.entries(counts).map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`).join(", ")}>
            <div class="bar" role="progressbar" aria-label={`Progress on ${name}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
              <span style={{ width: `${pct}%` }} />
            </div>
            <span class="small">{total ? `${done} of ${total} done` : "not started"}</span>
          </div>
        ) : (
          <span class="muted small">reviewer</span>
        )}
      </td>
      <td class="actions">
        {row.worker && (
          <a class="button primary" href={labelHref} onClick={(e) => linkTo(e, labelHref)} aria-label={`Label ${name}`}>
            Label
          </a>
        )}
        {row.reviewer && (
          <a class="button" href={reviewHref} onClick={(e) => linkTo(e, reviewHref)} aria-label={`Review ${name}`}>
            Review
          </a>
        )}
      </td>
    </tr>
  );
}
