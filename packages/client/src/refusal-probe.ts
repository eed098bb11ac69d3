import type { FetchLike } from './options.js';

/**
 * Why a WebSocket to `wsUrl` never opened, when the server says: a plain GET on the same URL
 * answers what an upgrade from this page's Origin meets (a browser cannot read the upgrade's
 * HTTP status). Resolves with a reason when the server refuses the Origin, else null (also
 * when the server cannot be reached: then retrying is right).
 */
export async function refusalReason(fetch: FetchLike, wsUrl: string): Promise<string | null> {
  try {
    const res = await fetch(wsUrl.replace(/^ws/, 'http'), { headers: { accept: 'application/json' } });
    if (!res.ok) return null;
    const probe = (await res.json()) as { websocket?: string; origin?: string; hint?: string } | null;
    if (probe?.websocket !== 'origin-refused') return null;
    return `Origin ${probe.origin ?? '(this page)'} is not allowed by the server: ${probe.hint ?? 'allow it in the server configuration'}`.slice(0, 200);
  } catch {
    return null;
  }
}
