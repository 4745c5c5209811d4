// An app's imports: start one from an archive uploaded in parts (archiveUpload.ts) or from a folder on
// the server (PostInputsDataSources), and watch the import jobs — state, records done of the total,
// inputs added and records skipped, the summary and the skipped records' messages — refreshed about
// once a second while one is queued or running (importJobs.ts); queued and running jobs can be cancelled.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, appPath, explain, type AppRef } from "../api";
import { ErrorBanner } from "../ui";
import { ARCHIVE_SUFFIXES, ArchiveUpload, FORMATS, inputTemplate, isArchive, mib, type ImportOptions, type UploadState } from "./archiveUpload";
import { cancelJob, isActive, progressOf, progressWords, stateOf, stopping, useImportJobs } from "./importJobs";

export function Imports({ ref_ }: { ref_: AppRef }) {
  const jobs = useImportJobs(ref_);
  const [opts, setOpts] = useState<ImportOptions>({ format: "", datasetId: "" });
  const [datasets, setDatasets] = useState<string[]>([]);
  useEffect(() => {
    api.get(appPath(ref_, "/datasets?per_page=500")).then(
      (g) => setDatasets((g.datasets ?? []).map((d: any) => d.id)),
      () => undefined, // only suggestions: the jobs list shows the app's errors
    );
  }, [ref_.owner, ref_.app]);
  return (
    <section aria-label="Imports">
      <p class="muted">
        Import a dataset (COCO, YOLO, Pascal VOC, JSONL, CSV or a folder of files) as a background job: the page may be
        closed while it runs.
      </p>
      <div class="filters import-options" role="group" aria-label="Import options">
        <label>
          Format
          <select name="import-format" value={opts.format} onChange={(e) => setOpts({ ...opts, format: e.currentTarget.value })}>
            <option value="">Detect from the files</option>
            {FORMATS.map((f) => (
              <option key={f} value={f}>
                {f === "folder" ? "folder of files" : f.toUpperCase()}
              </option>
            ))}
          </select>
        </label>
        <label>
          Into dataset (optional; created when missing)
          <input name="import-dataset" list="import-datasets" value={opts.datasetId} onInput={(e) => setOpts({ ...opts, datasetId: e.currentTarget.value.trim() })} />
          <datalist id="import-datasets">
            {datasets.map((d) => (
              <option key={d} value={d} />
            ))}
          </datalist>
        </label>
      </div>
      <div class="two-col">
        <ArchiveBox ref_={ref_} opts={opts} onStarted={jobs.reload} />
        <ServerPathBox ref_={ref_} opts={opts} onStarted={jobs.reload} />
      </div>
      <JobsTable ref_={ref_} jobs={jobs.jobs} onChanged={jobs.reload} />
      <ErrorBanner error={jobs.error} onClose={jobs.clearError} />
    </section>
  );
}

function ArchiveBox({ ref_, opts, onStarted }: { ref_: AppRef; opts: ImportOptions; onStarted(): void }) {
  const [file, setFile] = useState<File | null>(null);
  const [over, setOver] = useState(false);
  const [state, setState] = useState<UploadState | null>(null);
  const [error, setError] = useState("");
  const upload = useRef<ArchiveUpload | null>(null);
  useEffect(() => () => void upload.current?.cancel().catch(() => undefined), []); // leaving the tab
  const choose = (f: File | undefined) => {
    setError("");
    setState(null);
    if (!f) return setFile(null);
    if (!isArchive(f.name)) return setError(`${f.name} is not an archive: choose a ${ARCHIVE_SUFFIXES.join(", ")} file.`);
    setFile(f);
  };
  const start = () => {
    if (!file) return;
    const u = new ArchiveUpload(ref_, file, opts, (s) => {
      setState(s);
      if (s.phase === "done") {
        upload.current = null;
        setFile(null);
        onStarted();
      }
    });
    upload.current = u;
    void u.run();
  };
  const cancel = async () => {
    const u = upload.current;
    upload.current = null;
    try {
      await u?.cancel();
    } catch (e) {
      setError(`The upload stopped, but the server still holds its parts (they expire within a day): ${explain(e)}`);
    }
  };
  const busy = state?.phase === "sending" || state?.phase === "importing";
  return (
    <div class="panel-box">
      <h3>Upload an archive</h3>
      <label
        class={`dropzone${over ? " over" : ""}`}
        data-testid="archive-dropzone"
        onDragOver={(e) => (e.preventDefault(), setOver(true))}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          if (!busy) choose(e.dataTransfer?.files[0]);
        }}
      >
        <b>{file ? `${file.name} (${mib(file.size)})` : "Drop a .zip, .tar, .tar.gz or .tgz here"}</b>
        <span class="muted small">or click to choose the archive</span>
        <input
          type="file"
          class="sr-only"
          name="archive"
          accept={ARCHIVE_SUFFIXES.join(",")}
          disabled={busy}
          onChange={(e) => {
            choose(e.currentTarget.files?.[0]);
            e.currentTarget.value = ""; // the same archive may be chosen again after this upload
          }}
        />
      </label>
      <ErrorBanner error={error} onClose={() => setError("")} />
      <div class="form-actions">
        <button type="button" class="primary" disabled={!file || busy || state?.phase === "stopped"} onClick={start}>
          Upload and import
        </button>
        {state?.phase === "stopped" && (
          <button type="button" onClick={() => void upload.current?.run()}>
            Retry
          </button>
        )}
        {(busy || state?.phase === "stopped") && (
          <button type="button" class="danger" onClick={cancel}>
            Cancel upload
          </button>
        )}
      </div>
      {state && <UploadStatus state={state} />}
    </div>
  );
}

function UploadStatus({ state }: { state: UploadState }) {
  if (state.phase === "cancelled") return <p class="muted small" data-testid="archive-status" role="status">Upload cancelled.</p>;
  if (state.phase === "done")
    return (
      <p class="ok-note small" data-testid="archive-status" role="status">
        Uploaded; import job <span class="mono">{state.jobId}</span> started (below).
      </p>
    );
  const words =
    state.phase === "importing" ? "all sent, starting the import…" : state.phase === "stopped" ? "stopped" : "sending…";
  return (
    <div class="progress-wrap">
      <progress max={state.total || 1} value={state.sent} aria-label="Archive upload progress" />
      <span class="small" data-testid="archive-status" aria-live="polite">
        {mib(state.sent)} of {mib(state.total)} sent — {words}
      </span>
      {state.phase === "stopped" && <ErrorBanner error={state.error} />}
    </div>
  );
}

function ServerPathBox({ ref_, opts, onStarted }: { ref_: AppRef; opts: ImportOptions; onStarted(): void }) {
  const [path, setPath] = useState("");
  const [error, setError] = useState("");
  const [started, setStarted] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    setStarted("");
    const url = new URL(path.trim().startsWith("file://") ? path.trim() : `file://${path.trim()}`);
    if (opts.format) url.searchParams.set("format", opts.format);
    try {
      const got = await api.post(appPath(ref_, "/inputs/data_sources"), {
        data_sources: [{ url: { url: url.toString() }, input_template: inputTemplate(opts) }],
      });
      setStarted(String(got.inputs_add_jobs?.[0]?.id ?? ""));
      onStarted();
    } catch (err) {
      setError(explain(err));
    }
  };
  return (
    <form class="panel-box" onSubmit={submit}>
      <h3>From a folder on the server</h3>
      <label class="stacked">
        Folder path (below the server's import root)
        <input
          name="server-path"
          class="mono"
          placeholder="file:///srv/data/coco"
          value={path}
          onInput={(e) => setPath(e.currentTarget.value)}
          required
        />
      </label>
      <p class="hint">Needs a server started with LABELDESK_IMPORT_ROOT; the files are read where they are.</p>
      <ErrorBanner error={error} onClose={() => setError("")} />
      {started && (
        <p class="ok-note small" role="status">
          Import job <span class="mono">{started}</span> started (below).
        </p>
      )}
      <div class="form-actions">
        <button type="submit" class="primary">
          Import from the server
        </button>
      </div>
    </form>
  );
}

const COLUMNS = ["Job", "State", "Progress", "Added", "Skipped", "Created"];

function JobsTable({ ref_, jobs, onChanged }: { ref_: AppRef; jobs: any[] | null; onChanged(): void }) {
  const [error, setError] = useState("");
  const cancel = async (id: string) => {
    setError("");
    try {
      await cancelJob(ref_, id);
    } catch (e) {
      setError(explain(e));
    }
    onChanged();
  };
  return (
    <div>
      <h2 class="jobs-title">Import jobs</h2>
      <ErrorBanner error={error} onClose={() => setError("")} />
      {jobs === null ? (
        <p class="muted">Loading the jobs…</p>
      ) : !jobs.length ? (
        <div class="empty">No imports yet. Upload an archive or name a folder on the server above.</div>
      ) : (
        <table class="grid jobs" aria-label="Import jobs">
          <thead>
            <tr>
              {COLUMNS.map((c) => (
                <th key={c} scope="col">
                  {c}
                </th>
              ))}
              <th scope="col" class="actions">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          {jobs.map((j) => (
            <JobRows key={j.id} job={j} onCancel={() => cancel(j.id)} />
          ))}
        </table>
      )}
    </div>
  );
}

function JobRows({ job, onCancel }: { job: any; onCancel(): void }) {
  const { word, cls } = stateOf(job);
  const { percent } = progressOf(job);
  const p = job.progress ?? {};
  const skipped: string[] = job.status?.stack_trace ?? [];
  const summary = isActive(job) ? "" : job.status?.details ?? "";
  return (
    <tbody data-job={job.id}>
      <tr>
        <td class="mono">{job.id}</td>
        <td>
          <span class={`pill ${cls}`} data-testid="job-state" title={job.status?.description}>
            {word}
          </span>
        </td>
        <td>
          <div class="progress">
            <div class="bar" role="progressbar" aria-label={`Progress of job ${job.id}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
              <span style={{ width: `${percent}%` }} />
            </div>
            <span class="small muted" data-testid="job-progress" aria-live="polite">
              {progressWords(job)}
            </span>
          </div>
        </td>
        <td data-testid="job-success">{Number(p.success_count ?? 0).toLocaleString("en")}</td>
        <td data-testid="job-skipped">{Number(p.failed_count ?? 0).toLocaleString("en")}</td>
        <td class="small">{job.created_at ? new Date(job.created_at).toLocaleString() : ""}</td>
        <td class="actions">
          {isActive(job) && !stopping(job) && (
            <button type="button" class="danger" onClick={onCancel} aria-label={`Cancel job ${job.id}`}>
              Cancel
            </button>
          )}
        </td>
      </tr>
      {(summary || skipped.length > 0) && (
        <tr class="job-detail">
          <td colSpan={7}>
            {summary && (
              <p class={cls === "job-failed" ? "field-error" : "small"} data-testid="job-summary">
                {summary}
              </p>
            )}
            {skipped.length > 0 && (
              <details>
                <summary>
                  {skipped.length} skipped record{skipped.length === 1 ? "" : "s"}
                </summary>
                <ul class="file-errors">
                  {skipped.map((m, i) => (
                    <li key={i}>{m}</li>
                  ))}
                </ul>
              </details>
            )}
          </td>
        </tr>
      )}
    </tbody>
  );
}
