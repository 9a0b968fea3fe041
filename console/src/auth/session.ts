// The operator token lives in sessionStorage only: it ends with the browser tab's session,
// never appears in a URL, and is never written to localStorage or a cookie.
const KEY = "botplatform.operatorToken";
const CHANGED = "botplatform:session-changed";

export function readToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function signIn(token: string): void {
  sessionStorage.setItem(KEY, token);
  window.dispatchEvent(new Event(CHANGED));
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  window.dispatchEvent(new Event(CHANGED));
}

/** For useSyncExternalStore: re-render when the token is set or dropped. */
export function subscribeToSession(onChange: () => void): () => void {
  window.addEventListener(CHANGED, onChange);
  return () => window.removeEventListener(CHANGED, onChange);
}
