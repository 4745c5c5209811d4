import { useState } from "preact/hooks";
import { api, explain } from "../api";
import { navigate } from "../router";
import { signIn } from "../session";

/** User id + personal access token (or an app key). Checked against the API before it is kept. */
export function SignIn() {
  const [userId, setUserId] = useState("");
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setError("");
    const uid = userId.trim();
    const key = token.trim();
    if (!uid || !key) {
      setError("Enter your user id and your personal access token (or an app key).");
      return;
    }
    setBusy(true);
    try {
      try {
        await api.get(`/v2/users/${encodeURIComponent(uid)}/apps?per_page=1`, key);
        signIn({ userId: uid, token: key });
      } catch (first) {
        // An app key opens one app only: GetApp on the short route names it.
        let app;
        try {
          app = (await api.get("/v2/app", key)).app;
        } catch {
          throw first;
        }
        signIn({ userId: uid, token: key, app: { owner: app.user_id, app: app.id } });
      }
      const back = new URLSearchParams(location.search).get("next");
      navigate(back && back.startsWith("/") ? back : "/work", true);
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="signin">
      <form class="card signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <div class="brand big">labeldesk</div>
        <h1 id="signin-title">Sign in</h1>
        <p class="muted">Use your user id and a personal access token, or an app key.</p>
        <label>
          User id
          <input name="user" autoComplete="username" value={userId} onInput={(e) => setUserId(e.currentTarget.value)} autoFocus />
        </label>
        <label>
          Personal access token or app key
          <input name="token" type="password" autoComplete="current-password" value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button class="primary" type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p class="hint">
          No token? Ask your admin, or run <code>labeldesk users create YOUR_ID</code> on the server. The token is kept only
          for this browser tab.
        </p>
      </form>
    </div>
  );
}
