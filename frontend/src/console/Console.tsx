// The admin console: pick an app, then its tasks (with each task's live dashboard), data, and people.
// Paths: /console, /console/{owner}/{app}/{tasks|data|imports|annotations|people}[/{task or input}], .../staged[/{dataset}].

import { useEffect, useState } from "preact/hooks";
import { api, explain, type AppRef } from "../api";
import { linkTo, navigate } from "../router";
import { session } from "../session";
import { ErrorBanner } from "../ui";
import { myApps } from "../screens/MyWork";
import { Dashboard } from "./Dashboard";
import { Tasks } from "./Tasks";
import { Data } from "./Data";
import { People } from "./People";
import { Staged } from "./Staged";
import { Annotations } from "./Annotations";
import { Imports } from "./Imports";

export function consolePath(ref: AppRef, ...rest: string[]): string {
  return ["/console", ref.owner, ref.app, ...rest].map((p, i) => (i ? encodeURIComponent(p) : p)).join("/");
}

const TABS: [string, string][] = [
  ["tasks", "Tasks"],
  ["data", "Data"],
  ["imports", "Imports"],
  ["annotations", "Annotations"],
  ["staged", "Staged workflow"],
  ["people", "Apps & people"],
];

export function Console({ path }: { path: string[] }) {
  const [owner, app, tab, id] = path;
  if (!owner || !app) return <AppPicker />;
  const ref = { owner, app };
  return (
    <div class="page console">
      <div class="console-head">
        <h1>
          <a href="/console" onClick={(e) => linkTo(e, "/console")} class="crumb">
            Apps
          </a>{" "}
          / {app}
        </h1>
        <nav class="tabs" aria-label="Console sections">
          {TABS.map(([key, text]) => {
            const to = consolePath(ref, key);
            return (
              <a key={key} href={to} aria-current={(tab ?? "tasks") === key ? "page" : undefined} onClick={(e) => linkTo(e, to)}>
                {text}
              </a>
            );
          })}
        </nav>
      </div>
      {tab === "data" ? (
        <Data ref_={ref} />
      ) : tab === "imports" ? (
        <Imports ref_={ref} />
      ) : tab === "annotations" ? (
        <Annotations ref_={ref} inputId={id} />
      ) : tab === "people" ? (
        <People ref_={ref} />
      ) : tab === "staged" ? (
        <Staged ref_={ref} dataset={id} />
      ) : id ? (
        <Dashboard key={id} ref_={ref} taskId={id} />
      ) : (
        <Tasks ref_={ref} />
      )}
    </div>
  );
}

function AppPicker() {
  const me = session()!.userId;
  const [apps, setApps] = useState<AppRef[] | null>(null);
  const [error, setError] = useState("");
  const [newId, setNewId] = useState("");
  const load = () => myApps().then(setApps, (e) => setError(explain(e)));
  useEffect(() => void load(), []);
  const create = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      await api.post(`/v2/users/${encodeURIComponent(me)}/apps`, { apps: [{ id: newId.trim() }] });
      navigate(consolePath({ owner: me, app: newId.trim() }, "tasks"));
    } catch (err) {
      setError(explain(err));
    }
  };
  return (
    <div class="page console">
      <h1>Admin console</h1>
      <p class="muted">Pick an app to manage its data, tasks and people, or create one.</p>
      <ErrorBanner error={error} onClose={() => setError("")} />
      <form class="inline-form" onSubmit={create}>
        <label>
          New app id <input value={newId} onInput={(e) => setNewId(e.currentTarget.value)} required pattern="[A-Za-z0-9_\-]+" />
        </label>
        <button class="primary" type="submit">
          Create app
        </button>
      </form>
      {apps === null ? (
        <p class="muted">Loading apps…</p>
      ) : (
        <ul class="app-list">
          {apps.map((a) => {
            const to = consolePath(a, "tasks");
            return (
              <li key={a.owner + "/" + a.app}>
                <a href={to} onClick={(e) => linkTo(e, to)}>
                  <b>{a.app}</b> <span class="muted">owned by {a.owner}</span>
                </a>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
