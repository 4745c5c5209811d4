// Apps and people: collaborators of the app (add by user id, remove) and the owner's keys
// (create with scopes for this app — the secret is shown once — and revoke).

import { useEffect, useState } from "preact/hooks";
import { api, appPath, explain, type AppRef } from "../api";
import { ErrorBanner } from "../ui";

const SCOPES = ["All", "Inputs:Get", "Inputs:Add", "Annotations:Get", "Annotations:Add", "Concepts:Get", "Tasks:Get", "Tasks:Add"];

export function People({ ref_ }: { ref_: AppRef }) {
  const [error, setError] = useState("");
  const [collabs, setCollabs] = useState<any[]>([]);
  const [keys, setKeys] = useState<any[]>([]);
  const [newUser, setNewUser] = useState("");
  const [desc, setDesc] = useState("");
  const [scopes, setScopes] = useState<string[]>(["All"]);
  const [secret, setSecret] = useState("");
  const [stamp, setStamp] = useState(0);
  const userPath = `/v2/users/${encodeURIComponent(ref_.owner)}`;
  const guard = async (f: () => Promise<unknown>) => {
    setError("");
    try {
      await f();
      setStamp((n) => n + 1);
    } catch (e) {
      setError(explain(e));
    }
  };
  useEffect(() => {
    api.get(appPath(ref_, "/collaborators?per_page=200")).then((g) => setCollabs(g.collaborators ?? []), (e) => setError(explain(e)));
    api.get(`${userPath}/keys?per_page=200`).then((g) => setKeys(g.keys ?? []), () => setKeys([]));
  }, [stamp]);
  return (
    <section aria-label="Apps and people">
      <ErrorBanner error={error} onClose={() => setError("")} />
      <div class="two-col">
        <div class="panel-box">
          <h3>Collaborators</h3>
          <ul class="rows">
            {collabs.map((c) => (
              <li key={c.user?.id ?? c.id}>
                <span>{c.user?.id}</span>
                <button
                  type="button"
                  class="danger"
                  onClick={() => guard(() => api.del(appPath(ref_, "/collaborators"), { user_ids: [c.user?.id] }))}
                >
                  Remove
                </button>
              </li>
            ))}
            {!collabs.length && <li class="muted">Only you work in this app.</li>}
          </ul>
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              guard(async () => {
                await api.post(appPath(ref_, "/collaborators"), { collaborators: [{ user: { id: newUser.trim() } }] });
                setNewUser("");
              });
            }}
          >
            <input name="collaborator" placeholder="user id" value={newUser} onInput={(e) => setNewUser(e.currentTarget.value)} required />
            <button type="submit">Add collaborator</button>
          </form>
        </div>
        <div class="panel-box">
          <h3>Keys</h3>
          {secret && (
            <div class="notice" role="status">
              New key — copy it now, it is not shown again: <code data-testid="new-secret">{secret}</code>
            </div>
          )}
          <ul class="rows">
            {keys.map((k) => (
              <li key={k.id}>
                <span>
                  <b>{k.description || "key"}</b> <span class="muted small">{(k.scopes ?? []).join(", ")}</span>
                </span>
                <button type="button" class="danger" onClick={() => guard(() => api.del(`${userPath}/keys/${encodeURIComponent(k.id)}`))}>
                  Revoke
                </button>
              </li>
            ))}
          </ul>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              guard(async () => {
                const got = await api.post(`${userPath}/keys`, {
                  keys: [{ description: desc, scopes, apps: [{ id: ref_.app, user_id: ref_.owner }] }],
                });
                setSecret(got.keys?.[0]?.id ?? "");
                setDesc("");
              });
            }}
          >
            <label>
              Description <input name="key-description" value={desc} onInput={(e) => setDesc(e.currentTarget.value)} />
            </label>
            <fieldset>
              <legend>Scopes</legend>
              <div class="checks">
                {SCOPES.map((s) => (
                  <label key={s} class="check">
                    <input
                      type="checkbox"
                      checked={scopes.includes(s)}
                      onChange={(e) => setScopes(e.currentTarget.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
                    />
                    {s}
                  </label>
                ))}
              </div>
            </fieldset>
            <button type="submit">Create key for {ref_.app}</button>
          </form>
        </div>
      </div>
    </section>
  );
}
