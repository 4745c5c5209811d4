// The only way the app talks to the server: the public REST API (Clarifai /v2 and the staged
// workflow's /api/v2), same origin, with the signed-in user's key in the Authorization header.

import { session } from "./session";

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly details: string,
    readonly httpStatus: number,
  ) {
    super(details ? `${description} — ${details}` : description);
  }
}

/** Plain words for an error of any kind (API status, network, bug). */
export function explain(e: unknown): string {
  if (e instanceof ApiError) {
    const what = e.details ? `${e.description}: ${e.details}` : e.description;
    return e.code ? `${what} (code ${e.code})` : what;
  }
  if (e instanceof TypeError) return "The server cannot be reached. Check your connection and try again.";
  return e instanceof Error ? e.message : String(e);
}

type Json = Record<string, any>;

async function call(method: string, path: string, body?: unknown, token?: string, signal?: AbortSignal): Promise<Json> {
  const headers: Record<string, string> = {};
  const key = token ?? session()?.token;
  if (key) headers["Authorization"] = `Key ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  let data: Json = {};
  const text = await resp.text();
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(0, `The server answered ${resp.status} ${resp.statusText}`, text.slice(0, 200), resp.status);
  }
  const status = data.status;
  // Clarifai shape: status.code 10000 is success. Staged API: HTTP status + {message, details}.
  if (status && typeof status === "object" && "code" in status) {
    if (status.code !== 10000 && !resp.ok) {
      throw new ApiError(status.code, status.description || "Request failed", status.details || "", resp.status);
    }
    if (status.code !== 10000 && status.code !== 10010) {
      throw new ApiError(status.code, status.description || "Request failed", status.details || "", resp.status);
    }
  } else if (!resp.ok) {
    const err = data.error ?? data;
    const msg = (typeof err === "string" ? err : err.message || err.description) || `HTTP ${resp.status}`;
    throw new ApiError(err.clarifai_code ?? 0, msg, err.details ? String(err.details) : "", resp.status);
  }
  return data;
}

export const api = {
  get: (path: string, token?: string) => call("GET", path, undefined, token),
  post: (path: string, body: unknown) => call("POST", path, body),
  patch: (path: string, body: unknown) => call("PATCH", path, body),
  /** ``signal`` aborts the request (a cancelled archive upload's parts in flight). */
  put: (path: string, body: unknown, signal?: AbortSignal) => call("PUT", path, body, undefined, signal),
  del: (path: string, body?: unknown) => call("DELETE", path, body),
};

export interface AppRef {
  owner: string;
  app: string;
}

/** `/v2/users/{owner}/apps/{app}` + rest, each segment escaped. */
export function appPath(ref: AppRef, rest: string): string {
  return `/v2/users/${encodeURIComponent(ref.owner)}/apps/${encodeURIComponent(ref.app)}${rest}`;
}

export function query(params: Record<string, string | number | string[] | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
