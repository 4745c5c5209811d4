// Uploading files (as base64 PostInputs, a few at a time) and URL lists, with per-file results.

import { api, appPath, explain, type AppRef } from "../api";

export interface FileResult {
  name: string;
  ok: boolean;
  error?: string;
}

/** The bytes of a file (or a slice of one) as base64. */
export function base64Of(file: Blob, name = file instanceof File ? file.name : "a part of the file"): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).split(",", 2)[1] ?? "");
    r.onerror = () => reject(r.error ?? new Error(`${name} could not be read`));
    r.readAsDataURL(file);
  });
}

function kindOf(file: File): "image" | "video" | "audio" | "text" {
  if (file.type.startsWith("video/")) return "video";
  if (file.type.startsWith("audio/")) return "audio";
  if (file.type.startsWith("text/")) return "text";
  return "image";
}

const PARALLEL = 3;

/** Upload every file (one PostInputs each, PARALLEL at once); ``onResult`` after each. */
export async function uploadFiles(
  ref: AppRef,
  files: File[],
  datasetId: string,
  onResult: (r: FileResult) => void,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++];
      try {
        const b64 = await base64Of(file);
        const kind = kindOf(file);
        const data = kind === "text" ? { text: { raw: atob(b64) } } : { [kind]: { base64: b64 } };
        await api.post(appPath(ref, "/inputs"), {
          inputs: [{ data, dataset_ids: datasetId ? [datasetId] : [] }],
        });
        onResult({ name: file.name, ok: true });
      } catch (e) {
        onResult({ name: file.name, ok: false, error: explain(e) });
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
}

/** Upload a list of URLs (one a line) in one PostInputs. */
export async function uploadUrls(ref: AppRef, urls: string[], datasetId: string): Promise<void> {
  await api.post(appPath(ref, "/inputs"), {
    inputs: urls.map((url) => ({ data: { image: { url } }, dataset_ids: datasetId ? [datasetId] : [] })),
  });
}

/** Files of a drop, folders walked. */
export async function droppedFiles(dt: DataTransfer): Promise<File[]> {
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean) as FileSystemEntry[];
  if (!entries.length) return [...dt.files];
  const out: File[] = [];
  const walk = async (e: FileSystemEntry): Promise<void> => {
    if (e.isFile) out.push(await new Promise<File>((res, rej) => (e as FileSystemFileEntry).file(res, rej)));
    else if (e.isDirectory) {
      const reader = (e as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const c of batch) await walk(c);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}
