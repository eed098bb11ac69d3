/**
 * Where the console keeps the API key: in memory and in this tab's sessionStorage (so a
 * reload of a deep link stays logged in), never in localStorage and never in a cookie. It
 * goes to the server only as `Authorization: Bearer`, so there is no cookie to forge a
 * request with (no CSRF surface).
 */
const STORAGE_KEY = 'switchboard-console-key';

let fragmentKey: string | null = null;

/**
 * Take the key from a `#key=…` fragment (the admin link `switchboard serve` prints in
 * development mode) and remove the fragment from the address bar and the history entry.
 */
export function takeFragmentKey(): void {
  const hash = window.location.hash;
  if (!hash.startsWith('#')) return;
  const key = new URLSearchParams(hash.slice(1)).get('key');
  if (key === null) return;
  fragmentKey = key;
  window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search);
}

/** The key to log in with at start: the fragment's (once), else the one this tab kept. */
export function initialKey(): string | null {
  const key = fragmentKey;
  fragmentKey = null;
  if (key) return key;
  try {
    return window.sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function keepKey(key: string): void {
  try {
    window.sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // Storage refused (a private mode): the key stays in memory only.
  }
}

export function forgetKey(): void {
  try {
    window.sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing was kept.
  }
}
