// A task's progress dashboard, refreshed every few seconds: counts by status, per-worker table
// (assigned, done, skipped, agreement, approval rate, median time per item — timed by the server),
// throughput chart, CSV download.

import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api, appPath, explain, query, type AppRef } from "../api";
import { linkTo } from "../router";
import { ErrorBanner } from "../ui";
import { consolePath } from "./Console";
import { workerRows, toCsv, type WorkerRow } from "./metrics";

const REFRESH_MS = 3000;

export function Dashboard({ ref_, taskId }: { ref_: AppRef; taskId: string }) {
  const [task, setTask] = useState<any>(null);
  const [error, setError] = useState("");
  const [updated, setUpdated] = useState<Date | null>(null);
  useEffect(() => {
    let stop = false;
    const tick = async () => {
      try {
        const got = await api.get(
          appPath(ref_, `/tasks/${encodeURIComponent(taskId)}${query({ additional_fields: ["metrics", "progress", "timing", "agreement", "assignments"] })}`),
        );
        if (!stop) {
          setTask(got.task);
          setUpdated(new Date());
          setError("");
        }
      } catch (e) {
        if (!stop) setError(explain(e));
      }
      if (!stop) timer = window.setTimeout(tick, REFRESH_MS);
    };
    let timer = window.setTimeout(tick, 0);
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [ref_.owner, ref_.app, taskId]);
  if (!task) return error ? <ErrorBanner error={error} /> : <p class="muted">Loading the task…</p>;
  const rows = workerRows(task);
  const md = task.metadata ?? {};
  const statusCounts: Record<string, number> = {};
  for (const a of md.assignments?.items ?? []) statusCounts[a.status] = (statusCounts[a.status] ?? 0) + 1;
  const annCounts: Record<string, number> = {};
  for (const per of Object.values<any>(md.progress ?? {}))
    for (const [k, v] of Object.entries<any>(per)) annCounts[k] = (annCounts[k] ?? 0) + Number(v);
  const m = task.metrics ?? {};
  const download = () => {
    const blob = new Blob([toCsv(rows)], { type: "text/csv" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${task.id}-workers.csv`;
    a.click();
    URL.revokeObjectURL(a.href);
  };
  const back = consolePath(ref_, "tasks");
  return (
    <section aria-label="Task dashboard">
      <ErrorBanner error={error} />
      <div class="dash-head">
        <div>
          <a href={back} onClick={(e) => linkTo(e, back)} class="small">
            ← All tasks
          </a>
          <h2>
            {task.name || task.id} <span class="muted small">{task.type} · review {task.review?.strategy ?? "NONE"}</span>
          </h2>
        </div>
        <span class="hint" aria-live="polite">
          Live — updated {updated?.toLocaleTimeString()}
        </span>
      </div>
      <div class="stat-cards">
        <Stat label="Inputs in source" value={m.input_source?.inputs_count_estimated ?? 0} />
        <Stat label="Labeled" value={`${m.work?.inputs_count_estimated ?? 0} (${m.work?.inputs_percent_estimated ?? 0} %)`} testid="labeled" />
        <Stat label="Reviewed" value={`${m.review?.inputs_count_estimated ?? 0} (${m.review?.inputs_percent_estimated ?? 0} %)`} />
      </div>
      <div class="two-col">
        <CountTable title="Assignments by status" counts={statusCounts} testid="assignment-counts" />
        <CountTable title="Annotations by status (per input, per worker)" counts={annCounts} testid="annotation-counts" />
      </div>
      <div class="dash-head">
        <h2>Workers</h2>
        <button type="button" onClick={download}>
          Download CSV
        </button>
      </div>
      <table class="grid" data-testid="workers">
        <thead>
          <tr>
            <th>Worker</th>
            <th>Assigned</th>
            <th>Done</th>
            <th>Skipped / open</th>
            <th>Agreement</th>
            <th>Approval rate</th>
            <th>Median time per item</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.worker} data-worker={r.worker}>
              <td>{r.worker}</td>
              <td>{r.assigned}</td>
              <td>{r.done}</td>
              <td>{r.pending}</td>
              <td>{r.agreement === null ? "—" : `${Math.round(r.agreement * 100)} %`}</td>
              <td>{r.approval === null ? "—" : `${Math.round(r.approval * 100)} %`}</td>
              <td data-testid="median">{r.timed ? `${fmtSeconds(r.medianSeconds)} (${r.timed} timed)` : "—"}</td>
            </tr>
          ))}
          {!rows.length && (
            <tr>
              <td colSpan={7} class="muted">
                No worker has started yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <div class="two-col">
        <Chart
          title={`Throughput (items submitted per ${bucketName(md.timing?.bucket_seconds ?? 60)})`}
          xs={(md.timing?.throughput ?? []).map((p: any) => Date.parse(p.start) / 1000)}
          ys={(md.timing?.throughput ?? []).map((p: any) => Number(p.count))}
          kind="bars"
          bucket={md.timing?.bucket_seconds ?? 60}
        />
        <AgreementChart rows={rows} />
      </div>
    </section>
  );
}

function fmtSeconds(s: number): string {
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function bucketName(s: number): string {
  return s === 60 ? "minute" : s === 600 ? "10 minutes" : s === 3600 ? "hour" : "day";
}

function Stat({ label, value, testid }: { label: string; value: string | number; testid?: string }) {
  return (
    <div class="stat" data-testid={testid}>
      <div class="stat-value">{value}</div>
      <div class="muted small">{label}</div>
    </div>
  );
}

function CountTable({ title, counts, testid }: { title: string; counts: Record<string, number>; testid: string }) {
  const entries = Object.entries(counts).sort();
  return (
    <div class="panel-box" data-testid={testid}>
      <h3>{title}</h3>
      {entries.length ? (
        <dl class="counts">
          {entries.map(([k, v]) => (
            <div key={k} data-status={k}>
              <dt>{k.replace(/^TASK_ASSIGNMENT_/, "").toLowerCase().replace(/_/g, " ")}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p class="muted small">Nothing yet.</p>
      )}
    </div>
  );
}

function AgreementChart({ rows }: { rows: WorkerRow[] }) {
  const scored = rows.filter((r) => r.agreement !== null);
  return (
    <div class="panel-box">
      <h3>Agreement with consensus</h3>
      {scored.length ? (
        <div class="hbars">
          {scored.map((r) => (
            <div key={r.worker} class="hbar">
              <span>{r.worker}</span>
              <div class="hbar-track">
                <div class="hbar-fill" style={{ width: `${Math.round(r.agreement! * 100)}%` }} />
              </div>
              <b>{Math.round(r.agreement! * 100)} %</b>
            </div>
          ))}
        </div>
      ) : (
        <p class="muted small">Agreement is scored when a CONSENSUS task has inputs with every labeler's work.</p>
      )}
    </div>
  );
}

function Chart(props: { title: string; xs: number[]; ys: number[]; kind: "bars" | "line"; bucket: number }) {
  const { title, xs, ys, kind, bucket } = props;
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    if (!box.current) return;
    const data: uPlot.AlignedData = [xs, ys];
    plot.current?.destroy(); // small data: a fresh plot each refresh keeps the axes right
    const lo = xs.length ? Math.min(...xs) - bucket : 0;
    const hi = xs.length ? Math.max(...xs) + bucket : 1;
    plot.current = new uPlot(
      {
        width: Math.max(300, box.current.clientWidth - 8),
        height: 200,
        legend: { show: false },
        axes: [
          { stroke: "#9aa4b2", grid: { stroke: "#2a303b" } },
          { stroke: "#9aa4b2", grid: { stroke: "#2a303b" } },
        ],
        series: [
          {},
          {
            label: "items",
            stroke: "#4f8cff",
            fill: "#4f8cff55",
            paths: kind === "bars" ? uPlot.paths.bars!({ size: [0.6, 40] }) : undefined,
          },
        ],
        scales: {
          // one bucket either side, so a single bar has a readable time axis
          x: { time: true, range: () => [lo, hi] },
          y: { range: (_u, _min, max) => [0, Math.max(1, max)] },
        },
      },
      data,
      box.current,
    );
  }, [xs.join(","), ys.join(",")]);
  useEffect(() => () => plot.current?.destroy(), []);
  return (
    <div class="panel-box">
      <h3>{title}</h3>
      {!xs.length && <p class="muted small">No submissions yet.</p>}
      <div ref={box} class="chart" />
    </div>
  );
}
