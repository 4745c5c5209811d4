// An app's inputs-add jobs (ListInputsAddJobs, newest first) kept fresh: while one is queued or
// running and the page is visible, each of those is read again (GetInputsAddJob) about once a second;
// polling stops when none is left, when the page is hidden, or when the screen closes. Every reload
// starts a new run of the effect, and `newestOnly` drops the answers of older runs, so a slow poll
// never overwrites a newer state.

import { useEffect, useState } from "preact/hooks";
import { api, appPath, explain, type AppRef } from "../api";
import { newestOnly } from "./inputpage";

export const POLL_MS = 1000;
const PER_PAGE = 50;
const LIST_PAGE = 200;
const MAX_PAGES = 10;

export const JOB_QUEUED = 64000;
export const JOB_RUNNING = 64001;
export const JOB_COMPLETED = 64002;
export const JOB_FAILED = 64003;
export const JOB_CANCELLED = 64004;

/** A job's state in words and the class that colours it. */
export function stateOf(job: any): { word: string; cls: string } {
  const code = job.status?.code;
  const known: Record<number, string> = {
    [JOB_QUEUED]: "queued",
    [JOB_RUNNING]: "running",
    [JOB_COMPLETED]: "completed",
    [JOB_FAILED]: "failed",
    [JOB_CANCELLED]: "cancelled",
  };
  if (stopping(job)) return { word: "stopping", cls: "job-cancelled" };
  const word = known[code] ?? (job.status?.description || `status ${code}`);
  return { word, cls: known[code] ? `job-${word}` : "job-failed" };
}

/** A background import (an archive or a server folder: the server names what it reads in
 * `extraction_jobs`), not the always-completed job of one PostInputs call (a file added on Data). */
export function isImport(job: any): boolean {
  return (job.extraction_jobs ?? []).length > 0;
}

export function isActive(job: any): boolean {
  return job.status?.code === JOB_QUEUED || job.status?.code === JOB_RUNNING;
}

/** A running job that was cancelled and ends after its current chunk (the server says so in words). */
export function stopping(job: any): boolean {
  return job.status?.code === JOB_RUNNING && /stopping/i.test(job.status?.description ?? "");
}

/** The progress in words: records done of the total once the job knows it. */
export function progressWords(job: any): string {
  const { done, total, percent } = progressOf(job);
  if (job.status?.code === JOB_QUEUED) return "waiting to start";
  if (isActive(job) && !done && total <= 1) return "starting…"; // unpacking, or counting the records
  return total ? `${done.toLocaleString("en")} of ${total.toLocaleString("en")} records` : `${percent} %`;
}

/** Records done of the total, from the progress counts (or status.percent_completed without them). */
export function progressOf(job: any): { done: number; total: number; percent: number } {
  const p = job.progress ?? {};
  const done = Number(p.success_count ?? 0) + Number(p.failed_count ?? 0);
  const total = done + Number(p.pending_count ?? 0) + Number(p.in_progress_count ?? 0);
  const given = job.status?.percent_completed;
  const percent =
    given !== undefined ? Number(given) : job.status?.code === JOB_COMPLETED ? 100 : total ? (100 * done) / total : 0;
  return { done, total, percent: Math.max(0, Math.min(100, Math.round(percent))) };
}

function jobPath(ref: AppRef, id: string): string {
  return appPath(ref, `/inputs/jobs/add/${encodeURIComponent(id)}`);
}

/** CancelInputsAddJob (the proto binds it to PATCH …/inputs/jobs/add/{id}). */
export function cancelJob(ref: AppRef, id: string): Promise<unknown> {
  return api.patch(jobPath(ref, id), {});
}

/** The app's newest PER_PAGE imports: ListInputsAddJobs lists every PostInputs call's own job
 * too (one per file added on Data), so it reads on past them, a page of LIST_PAGE at a time, up to
 * MAX_PAGES pages. */
async function newestImports(ref: AppRef): Promise<any[]> {
  const found: any[] = [];
  for (let page = 1; page <= MAX_PAGES && found.length < PER_PAGE; page++) {
    const got = await api.get(appPath(ref, `/inputs/jobs/add?page=${page}&per_page=${LIST_PAGE}`));
    const jobs: any[] = got.inputs_add_jobs ?? [];
    found.push(...jobs.filter(isImport));
    if (jobs.length < LIST_PAGE) break;
  }
  return found.slice(0, PER_PAGE);
}

export interface ImportJobs {
  jobs: any[] | null;
  error: string;
  clearError(): void;
  /** List again (after starting or cancelling a job); polling goes on from the new list. */
  reload(): void;
}

export function useImportJobs(ref: AppRef): ImportJobs {
  const [jobs, setJobs] = useState<any[] | null>(null);
  const [error, setError] = useState("");
  const [stamp, setStamp] = useState(0);
  const [visible, setVisible] = useState(!document.hidden);

  useEffect(() => {
    const seen = () => setVisible(!document.hidden);
    document.addEventListener("visibilitychange", seen);
    return () => document.removeEventListener("visibilitychange", seen);
  }, []);

  useEffect(
    newestOnly((live) => {
      if (!visible) return;

      // show `list`, then read its queued/running jobs again in POLL_MS, and so on while any is left
      const show = (list: any[]) => {
        setJobs(list);
        const active = list.filter(isActive);
        if (!active.length) return;
        window.setTimeout(
          live(() => {
            Promise.all(active.map((j) => api.get(jobPath(ref, j.id)).then((g) => g.inputs_add_job)))
              .then(
                live((fresh: any[]) => {
                  setError("");
                  const byId = new Map(fresh.map((j) => [j.id, j]));
                  show(list.map((j) => byId.get(j.id) ?? j));
                }),
              )
              .catch(
                live((e: unknown) => {
                  setError(explain(e));
                  show(list); // a failed poll is tried again in POLL_MS
                }),
              );
          }),
          POLL_MS,
        );
      };
      newestImports(ref).then(
        live((list: any[]) => show(list)),
        live((e: unknown) => setError(explain(e))),
      );
    }),
    [ref.owner, ref.app, stamp, visible],
  );

  return { jobs, error, clearError: () => setError(""), reload: () => setStamp((n) => n + 1) };
}
