// What the labeling and review screens need to know about a task and its app.

import { api, appPath, query, type AppRef } from "./api";

export interface Concept {
  id: string;
  name: string;
}

export interface TaskInfo {
  ref: AppRef;
  task: any;
  concepts: Concept[];
  sampleMs: number;
}

export async function loadTask(ref: AppRef, taskId: string): Promise<TaskInfo> {
  const [t, app] = await Promise.all([
    api.get(appPath(ref, `/tasks/${encodeURIComponent(taskId)}`)),
    api.get(appPath(ref, "")).catch(() => ({ app: {} })),
  ]);
  const task = t.task;
  const ids: string[] = task.concept_ids?.length ? task.concept_ids : (task.concepts ?? []).map((c: any) => c.concept?.id ?? c.id);
  const names = new Map<string, string>();
  await Promise.all(
    ids.map(async (id) => {
      try {
        const c = (await api.get(appPath(ref, `/concepts/${encodeURIComponent(id)}`))).concept;
        names.set(id, c?.name || id);
      } catch {
        names.set(id, id);
      }
    }),
  );
  return {
    ref,
    task,
    concepts: ids.map((id) => ({ id, name: names.get(id) ?? id })),
    sampleMs: app.app?.sample_ms || 1000,
  };
}

/** A user's annotations of the task on one input (oldest first). */
export async function annotationsOf(info: TaskInfo, inputId: string, userId?: string): Promise<any[]> {
  const got = await api.get(
    appPath(
      info.ref,
      `/annotations${query({ task_id: info.task.id, input_ids: inputId, user_ids: userId, per_page: 100 })}`,
    ),
  );
  return got.annotations ?? [];
}

export function assignmentsPath(info: TaskInfo): string {
  return appPath(info.ref, `/tasks/${encodeURIComponent(info.task.id)}/assignments`);
}

/** Why a LABEL_START / REVIEW_START gave no work, in the server's words ("" when it gave some, or said only "Ok"). */
export function emptyReason(got: any): string {
  const said = got.status?.description;
  return !got.task_assignments?.length && said && said !== "Ok" ? said : "";
}

/** A screen's queue, kept where its async steps read it (``held.queue``) and where it is shown (``show``). */
export function setQueued<T>(held: { queue: T[] }, show: (queue: T[]) => void, queue: T[]): void {
  held.queue = queue;
  show(queue);
}

/** Queue ``fresh`` behind what is queued; with ``showFirst`` and nothing on screen, show the first at once. */
export async function enqueue<T>(
  held: { queue: T[]; current: unknown },
  show: (queue: T[]) => void,
  fresh: T[],
  showFirst: boolean,
  advance: (queue: T[], fromRefill: boolean) => Promise<void>,
): Promise<void> {
  const next = [...held.queue, ...fresh];
  setQueued(held, show, next);
  if (showFirst && !held.current) await advance(next, true);
}
