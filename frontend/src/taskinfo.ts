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
