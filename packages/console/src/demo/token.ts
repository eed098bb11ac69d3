import { ErrorCode, SwitchboardError } from '@switchboard/client';

/** Who joins the demo workspace: the user id the token is for, and the name shown. */
export interface DemoUser {
  user: string;
  name: string;
}

/** The user id a display name becomes: lower-case letters, digits, `_` and `-`, at most 32 (what the server accepts). */
export function userIdOf(name: string): string {
  return name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32);
}

/**
 * A short-lived demo token from the server (`POST /api/v1/demo/token`), as the SDK's
 * `getToken` wants it: a refusal rejects with a `SwitchboardError` carrying the server's
 * code, temporary ones (a rate limit) so that the SDK retries.
 */
export async function fetchDemoToken(who: DemoUser): Promise<string> {
  const res = await fetch('/api/v1/demo/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(who),
    credentials: 'omit',
    cache: 'no-store',
  });
  const json = (await res.json().catch(() => null)) as { token?: string; error?: { code: number; message: string; temporary: boolean } } | null;
  if (!res.ok || typeof json?.token !== 'string') {
    const error = json?.error;
    throw new SwitchboardError(error?.code ?? ErrorCode.Internal.code, error?.message ?? `HTTP ${res.status}`, error?.temporary ?? res.status >= 500);
  }
  return json.token;
}
