// The signed-in user, kept for the browser tab's session only (sessionStorage: closing the tab
// signs out; the key never lands in localStorage or a cookie).

export interface Session {
  userId: string;
  token: string;
  /** Set when the token is an app key: the one app it opens. */
  app?: { owner: string; app: string };
}

const KEY = "labeldesk.session";

export function session(): Session | null {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as Session;
  } catch {
    return null;
  }
}

export function signIn(s: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}
