// Per-worker numbers of a task, from GetTask's additional fields (progress, timing, agreement,
// assignments). Pure functions, so the CSV and the table agree.

export interface WorkerRow {
  worker: string;
  assigned: number;
  done: number;
  pending: number;
  agreement: number | null;
  approval: number | null;
  medianSeconds: number;
  timed: number;
}

const DONE = new Set(["success", "awaiting_review", "awaiting_consensus_review", "review_denied"]);

export function workerRows(task: any): WorkerRow[] {
  const md = task.metadata ?? {};
  const assigned: Record<string, number> = {};
  for (const a of md.assignments?.items ?? []) {
    if (a.worker_id.startsWith("#")) continue; // untaken DYNAMIC seat
    assigned[a.worker_id] = (assigned[a.worker_id] ?? 0) + 1;
  }
  const progress: Record<string, Record<string, number>> = md.progress ?? {};
  const timing: Record<string, any> = md.timing?.workers ?? {};
  const agreement = new Map<string, number>((md.agreement?.labelers ?? []).map((l: any) => [l.user_id, Number(l.mean_score)]));
  const workers = new Set([...Object.keys(assigned), ...Object.keys(progress), ...Object.keys(timing)]);
  return [...workers].sort().map((w) => {
    const p = progress[w] ?? {};
    const done = Object.entries(p).reduce((n, [k, v]) => n + (DONE.has(k) ? Number(v) : 0), 0);
    const ok = Number(p.success ?? 0);
    const denied = Number(p.review_denied ?? 0);
    return {
      worker: w,
      assigned: assigned[w] ?? 0,
      done,
      pending: Math.max(0, (assigned[w] ?? 0) - done),
      agreement: agreement.has(w) ? agreement.get(w)! : null,
      approval: ok + denied ? ok / (ok + denied) : null,
      medianSeconds: Number(timing[w]?.median_seconds ?? 0),
      timed: Number(timing[w]?.items ?? 0),
    };
  });
}

export function toCsv(rows: WorkerRow[]): string {
  const head = "worker,assigned,done,skipped_or_open,agreement,approval_rate,median_seconds_per_item,items_timed";
  const cell = (v: number | null) => (v === null ? "" : String(v));
  const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return [head, ...rows.map((r) => [esc(r.worker), r.assigned, r.done, r.pending, cell(r.agreement), cell(r.approval), r.medianSeconds, r.timed].join(","))].join("\n") + "\n";
}
