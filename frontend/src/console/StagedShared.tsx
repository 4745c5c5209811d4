// What the staged-workflow admin screens share: paths of the staged API (/api/v2) scoped to the
// app's owner (the client), the app's members with their emails (the staged API names people by
// email), bulk (re)assignment of tasks by id, and which field an API error is about.

import { api, appPath, query, type AppRef } from "../api";

export interface Member {
  id: string;
  email: string;
}

/** `/api/v2/datasets/{ds}{rest}?client_id={owner}`: the dataset of this client, even when the caller
 *  sees datasets with the same id of other clients. */
export function datasetPath(ref: AppRef, dataset: string, rest: string, params: Record<string, string | number | undefined> = {}): string {
  return `/api/v2/datasets/${encodeURIComponent(dataset)}${rest}${query({ ...params, client_id: ref.owner })}`;
}

/** The owner and the collaborators of the app: whoever may be given staged work (by email). */
export async function loadMembers(ref: AppRef): Promise<Member[]> {
  const got = await api.get(appPath(ref, "/collaborators?per_page=1000"));
  const owner = got.app_owner ?? { id: ref.owner };
  const people = [owner, ...(got.collaborators ?? []).map((c: any) => c.user ?? {})];
  const seen = new Set<string>();
  return people
    .map((u: any) => ({ id: String(u.id ?? ""), email: String(u.primary_email ?? "") }))
    .filter((m) => m.id && !seen.has(m.id) && seen.add(m.id));
}

/** A task's work unit in words: the input, the tracked object of a sequence, or the attribute kind. */
export function unitName(t: any): string {
  if (t.label_id) return `${t.sequence_id} / ${t.label_id}`;
  return t.file_id ?? String(t.type ?? "").replace("_", " ");
}

/** (Re)assign tasks by id — `email: null` unassigns — one request per dataset, stage and kind
 *  (file and attribute tasks go to file_tasks, tracked objects to label_tasks). `due`: a due time for
 *  them, `null` for the stage's own, undefined to keep theirs. */
export async function assignTasks(ref: AppRef, tasks: any[], email: string | null, due?: string | null): Promise<void> {
  const groups = new Map<string, any[]>();
  for (const t of tasks) {
    const key = JSON.stringify([t.dataset_id, t.stage, t.type === "label"]);
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  for (const [key, group] of groups) {
    const [dataset, stage, label] = JSON.parse(key) as [string, string, boolean];
    const body: Record<string, unknown> = { stage, assignments: group.map((t) => ({ task_id: t.id, email })) };
    if (due !== undefined) body.due_at = due;
    await api.post(datasetPath(ref, dataset, label ? "/label_tasks" : "/file_tasks"), body);
  }
}

/** "by 5 min" / "by 3 h" / "by 2 days" for a number of seconds late. */
export function lateBy(s: number | undefined): string {
  if (!s) return "";
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

/** A labelled select of `[value, text]` options, the first one (`empty`) meaning "none / any". */
export function Choice(props: { label: string; name: string; value: string; empty: string; options: [string, string][]; onChange(v: string): void }) {
  return (
    <label>
      {props.label}
      <select name={props.name} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">{props.empty}</option>
        {props.options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

/** A task's state as a coloured pill. */
export function StatePill({ state }: { state: string }) {
  return <span class={`pill ${state.replace(" ", "-")}`}>{state}</span>;
}
