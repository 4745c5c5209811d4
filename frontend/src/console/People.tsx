// Apps and people: collaborators of the app (add by user id with scopes, change their scopes,
// remove) and the owner's keys (create with scopes for this app — the secret is shown once, then
// only its public id — and revoke).

import { useEffect, useState } from "preact/hooks";
import { api, appPath, explain, type AppRef } from "../api";
import { ErrorBanner } from "../ui";

const SCOPES = ["All", "Inputs:Get", "Inputs:Add", "Annotations:Get", "Annotations:Add", "Concepts:Get", "Tasks:Get", "Tasks:Add"];

/** Scope checkboxes (a fieldset named by `legend`). */
function ScopePicker(props: { legend: string; name: string; value: string[]; onChange(v: string[]): void }) {
  return (
    <fieldset>
      <legend>{props.legend}</legend>
      <div class="checks">
        {SCOPES.map((s) => (
          <label key={s} class="check">
            <input
              type="checkbox"
              name={props.name}
              value={s}
              checked={props.value.includes(s)}
              onChange={(e) => props.onChange(e.currentTarget.checked ? [...props.value, s] : props.value.filter((x) => x !== s))}
            />
            {s}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

function ScopeList({ scopes }: { scopes: string[] }) {
  return (
    <span class="scope-list" data-testid="scopes">
      {scopes.map((s) => (
        <code key={s}>{s}</code>
      ))}
    </span>
  );
}

export function People({ ref_ }: { ref_: AppRef }) {
  const [error, setError] = useState("");
  const [collabs, setCollabs] = useState<any[]>([]);
  const [keys, setKeys] = useState<any[]>([]);
  const [newUser, setNewUser] = useState("");
  const [collabScopes, setCollabScopes] = useState<string[]>(["All"]);
  const [editing, setEditing] = useState<{ user: string; scopes: string[] } | null>(null);
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
            {collabs.map((c) => {
              const user = c.user?.id ?? "";
              const mine = editing && editing.user === user ? editing : null;
              return (
                <li key={user} data-collaborator={user} class={mine ? "editing" : ""}>
                  <span class="row-main">
                    <b>{user}</b>
                    {mine ? (
                      <ScopePicker legend={`Scopes of ${user}`} name="edit-scope" value={mine.scopes} onChange={(v) => setEditing({ user, scopes: v })} />
                    ) : (
                      <ScopeList scopes={c.scopes ?? []} />
                    )}
                  </span>
                  <span class="row-actions">
                    {mine ? (
                      <>
                        <button
                          type="button"
                          class="primary"
                          onClick={() =>
                            guard(async () => {
                              await api.patch(appPath(ref_, "/collaborators"), {
                                action: "overwrite",
                                collaborators: [{ user: { id: user }, scopes: mine.scopes }],
                              });
                              setEditing(null);
                            })
                          }
                        >
                          Save scopes
                        </button>
                        <button type="button" onClick={() => setEditing(null)}>
                          Cancel
                        </button>
                      </>
                    ) : (
                      <button type="button" onClick={() => setEditing({ user, scopes: c.scopes ?? [] })}>
                        Change scopes
                      </button>
                    )}
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Remove ${user}`}
                      onClick={() => guard(() => api.del(appPath(ref_, "/collaborators"), { collaborator_ids: [c.id || user] }))}
                    >
                      Remove
                    </button>
                  </span>
                </li>
              );
            })}
            {!collabs.length && <li class="muted">Only you work in this app.</li>}
          </ul>
          <form
            aria-label="Add collaborator"
            onSubmit={(e) => {
              e.preventDefault();
              guard(async () => {
                await api.post(appPath(ref_, "/collaborators"), {
                  collaborators: [{ user: { id: newUser.trim() }, scopes: collabScopes }],
                });
                setNewUser("");
              });
            }}
          >
            <label>
              User id <input name="collaborator" value={newUser} onInput={(e) => setNewUser(e.currentTarget.value)} required />
            </label>
            <ScopePicker legend="Their scopes" name="collab-scope" value={collabScopes} onChange={setCollabScopes} />
            <button type="submit">Add collaborator</button>
          </form>
        </div>
        <div class="panel-box">
          <h3>Keys</h3>
          {secret && (
            <div class="notice" role="status">
              New key — copy it now, it is not shown again: <code data-testid="new-secret">{secret}</code>{" "}
              <button type="button" class="ghost" onClick={() => setSecret("")}>
                Done
              </button>
            </div>
          )}
          <ul class="rows" data-testid="keys">
            {keys.map((k) => (
              <li key={k.id} data-key={k.id}>
                <span class="row-main">
                  <span>
                    <b>{k.description || "key"}</b> <code class="muted small">{k.id}…</code>
                  </span>
                  <ScopeList scopes={k.scopes ?? []} />
                </span>
                <button
                  type="button"
                  class="danger"
                  aria-label={`Revoke ${k.description || k.id}`}
                  onClick={() => guard(() => api.del(`${userPath}/keys/${encodeURIComponent(k.id)}`))}
                >
                  Revoke
                </button>
              </li>
            ))}
            {!keys.length && <li class="muted">No keys yet.</li>}
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
            <ScopePicker legend="Scopes" name="key-scope" value={scopes} onChange={setScopes} />
            <button type="submit">Create key for {ref_.app}</button>
          </form>
        </div>
      </div>
    </section>
  );
}
