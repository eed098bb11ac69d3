/** Whether a browser Origin may open a WebSocket. Requests without Origin (non-browser clients) pass. */
export function originAllowed(origin: string | undefined, allowed: readonly string[], development: boolean): boolean {
  if (origin === undefined) return true;
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  if (!development) return false;
  try {
    const { hostname, protocol } = new URL(origin);
    return (protocol === 'http:' || protocol === 'https:') && (hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]');
  } catch {
    return false;
  }
}
