// The staged workflow admin of an app (/console/{owner}/{app}/staged[/{dataset}]): pick a dataset, edit
// its stage list, assign its work units to members in bulk; and the app's delayed tasks with a
// reassign action. Everything goes through the staged API under /api/v2 (docs/staged-workflow.md).

import { useEffect, useState } from "preact/hooks";
import { api, appPath, explain, type AppRef } from "../api";
import { navigate } from "../router";
import { ErrorBanner } from "../ui";
import { consolePath } from "./Console";
import { StagedAssign } from "./StagedAssign";
import { StagedDelayed } from "./StagedDelayed";
import { datasetPath, loadMembers, type Member } from "./StagedShared";
import { StagedStages } from "./StagedStages";

export function Staged({ ref_, dataset }: { ref_: AppRef; dataset?: string }) {
  const [datasets, setDatasets] = useState<string[] | null>(null);
  const [members, setMembers] = useState<Member[]>([]);
  const [stages, setStages] = useState<string[]>([]);
  const [error, setError] = useState("");
  const [stamp, setStamp] = useState(0);
  const changed = () => setStamp((n) => n + 1);
  useEffect(() => {
    api.get(appPath(ref_, "/datasets?per_page=1000")).then(
      (g) => setDatasets((g.datasets ?? []).map((d: any) => d.id)),
      (e) => (setError(explain(e)), setDatasets([])),
    );
    loadMembers(ref_).then(setMembers, (e) => setError(explain(e)));
  }, []);
  const current = dataset ?? datasets?.[0];
  useEffect(() => {
    if (!current) return;
    api.get(datasetPath(ref_, current, "/stages")).then(
      (g) => setStages((g.stages ?? []).map((s: any) => s.name)),
      () => setStages([]),
    );
  }, [current, stamp]);

  return (
    <section aria-label="Staged workflow">
      <div class="dash-head">
        <h2>Staged workflow</h2>
        {datasets && datasets.length > 0 && (
          <label class="inline-label">
            Dataset
            <select name="staged-dataset" value={current} onChange={(e) => navigate(consolePath(ref_, "staged", e.currentTarget.value))}>
              {datasets.map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      <p class="muted small">
        Each input of a dataset is a work unit that passes through the stages in order; labelers see their tasks under
        “My stage tasks”. People are assigned by email.
      </p>
      <ErrorBanner error={error} onClose={() => setError("")} />
      {datasets && !datasets.length && (
        <div class="empty">
          <h2>No datasets yet</h2>
          <p>The staged workflow runs per dataset: create one under “Data” and add inputs to it.</p>
        </div>
      )}
      {current && (
        <div class="staged-sections">
          <StagedStages key={current} ref_={ref_} dataset={current} onSaved={changed} />
          <StagedDelayed ref_={ref_} members={members} stamp={stamp} onChange={changed} />
          <StagedAssign key={current} ref_={ref_} dataset={current} stages={stages} members={members} stamp={stamp} onChange={changed} />
        </div>
      )}
    </section>
  );
}
