// An archive (.zip/.tar/.tar.gz/.tgz) sent to the server in parts and imported as a background job:
// PostUploads, then PutUploadContentParts of ≤ 8 MiB slices (base64, two in flight, a transient failure
// tried again twice), then PostInputsUploads, which answers the inputs-add job to poll. A part that still
// fails stops the upload with its error; `run()` again sends only the parts left; `cancel()` stops
// sending and deletes the upload (DeleteUploads).

import { ApiError, api, appPath, explain, type AppRef } from "../api";
import { base64Of } from "./upload";

export const PART_BYTES = 8 * 1024 * 1024;
const IN_FLIGHT = 2;
const AUTO_RETRIES = 2;
export const ARCHIVE_SUFFIXES = [".zip", ".tar", ".tar.gz", ".tgz"];
/** The dataset formats the server reads ("" = detected from the archive's files). */
export const FORMATS = ["coco", "yolo", "voc", "jsonl", "csv", "folder"];

export interface ImportOptions {
  format: string;
  datasetId: string;
}

export type UploadState =
  | { phase: "sending" | "importing"; sent: number; total: number }
  | { phase: "stopped"; sent: number; total: number; error: string }
  | { phase: "cancelled" }
  | { phase: "done"; jobId: string };

export function isArchive(name: string): boolean {
  const lower = name.toLowerCase();
  return ARCHIVE_SUFFIXES.some((s) => lower.endsWith(s));
}

/** The inputs' template of an import: the dataset to add them to and the format to read. */
export function inputTemplate(opts: ImportOptions): Record<string, unknown> {
  return {
    dataset_ids: opts.datasetId ? [opts.datasetId] : [],
    ...(opts.format ? { data: { metadata: { format: opts.format } } } : {}),
  };
}

/** A network failure or a busy / failing server: worth sending the same part again. */
function transient(e: unknown): boolean {
  return e instanceof TypeError || (e instanceof ApiError && (e.httpStatus >= 500 || e.httpStatus === 429));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ArchiveUpload {
  private uploadId = "";
  private readonly left: Set<number>;
  /** how many parts the file is sent in */
  private readonly parts: number;
  private sent = 0;
  private cancelled = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly ref: AppRef,
    private readonly file: File,
    private readonly opts: ImportOptions,
    private readonly onChange: (s: UploadState) => void,
  ) {
    this.parts = Math.ceil(file.size / PART_BYTES);
    this.left = new Set(Array.from({ length: this.parts }, (_, n) => n));
  }

  /** Start, or go on after a failure: create the upload once, send the parts left, start the import. */
  async run(): Promise<void> {
    const total = this.file.size;
    this.onChange({ phase: "sending", sent: this.sent, total });
    try {
      if (!this.uploadId) {
        const got = await api.post(appPath(this.ref, "/uploads"), {
          uploads: [{ content_name: this.file.name, content_length: String(total) }],
        });
        this.uploadId = String(got.uploads?.[0]?.id ?? "");
        if (this.cancelled) return void (await this.deleteUpload());
      }
      await this.sendParts();
      if (this.cancelled) return;
      this.onChange({ phase: "importing", sent: this.sent, total });
      const got = await api.post(appPath(this.ref, "/inputs/uploads"), {
        inputs_uploads: [{ upload: { id: this.uploadId }, input_template: inputTemplate(this.opts) }],
      });
      this.onChange({ phase: "done", jobId: String(got.inputs_add_jobs?.[0]?.id ?? "") });
    } catch (e) {
      if (!this.cancelled) this.onChange({ phase: "stopped", sent: this.sent, total, error: explain(e) });
    }
  }

  /** Stop sending (parts in flight are aborted) and delete what the server holds of the upload. */
  async cancel(): Promise<void> {
    this.cancelled = true;
    this.abort.abort();
    this.onChange({ phase: "cancelled" });
    await this.deleteUpload();
  }

  private async deleteUpload(): Promise<void> {
    if (this.uploadId) await api.del(appPath(this.ref, "/uploads"), { ids: [this.uploadId] });
  }

  /** The parts left, IN_FLIGHT at once; the first failure stops the others from taking more. */
  private async sendParts(): Promise<void> {
    const queue = [...this.left].sort((a, b) => a - b);
    let failure: { error: unknown } | null = null;
    const worker = async () => {
      while (queue.length && !failure && !this.cancelled) {
        const n = queue.shift()!;
        try {
          const size = await this.sendPart(n);
          this.left.delete(n);
          this.sent += size;
          if (!this.cancelled) this.onChange({ phase: "sending", sent: this.sent, total: this.file.size });
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    if (failure && !this.cancelled) throw (failure as { error: unknown }).error;
  }

  private async sendPart(n: number): Promise<number> {
    const start = n * PART_BYTES;
    const slice = this.file.slice(start, Math.min(this.file.size, start + PART_BYTES));
    const data = await base64Of(slice, `${this.file.name} (part ${n + 1})`);
    const path = appPath(this.ref, `/uploads/${encodeURIComponent(this.uploadId)}/content_parts`);
    const body = { content_parts: [{ part_number: n + 1, range_start: String(start), data }] };
    for (let attempt = 0; ; attempt++) {
      try {
        await api.put(path, body, this.abort.signal);
        return slice.size;
      } catch (e) {
        if (this.cancelled) throw e;
        if (attempt >= AUTO_RETRIES || !transient(e)) {
          throw new Error(`Part ${n + 1} of ${this.parts} was not sent: ${explain(e)}`);
        }
        await sleep(1000 * (attempt + 1));
      }
    }
  }
}

/** "4.0 MiB" */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
