import { ErrorCode, SwitchboardError } from '@switchboard/client';

/** What `GET /api/v1/key` says of the key the console logged in with. */
export interface KeyScope {
  id: string;
  admin: boolean;
  tenant: string | null;
  readOnly: boolean;
}

export interface Session {
  key: string;
  scope: KeyScope;
}

export interface ApiRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** The tenant to act in (`X-Switchboard-Tenant`): an admin key names it on tenant routes. */
  tenant?: string | null;
}

/**
 * One HTTP API call with the console's key, as `Authorization: Bearer` (never a cookie,
 * never in the URL). A refusal rejects with the SDK's `SwitchboardError` and the server's
 * code, as every SDK call does.
 */
export async function api<T>(key: string, path: string, request: ApiRequest = {}): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (request.tenant) headers['x-switchboard-tenant'] = request.tenant;
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, {
    method: request.method ?? 'GET',
    headers,
    credentials: 'omit',
    cache: 'no-store',
    ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const error = (json as { error?: { code?: number; message?: string; temporary?: boolean } } | null)?.error;
    throw new SwitchboardError(error?.code ?? ErrorCode.Internal.code, error?.message ?? `HTTP ${res.status}`, error?.temporary === true);
  }
  return json as T;
}

/** A refusal as a person reads it: the server's message and its code's name. */
export function describeError(err: unknown): string {
  if (err instanceof SwitchboardError) {
    const name = Object.entries(ErrorCode).find(([, info]) => info.code === err.code)?.[0];
    return `${err.message} (${name ?? 'error'} ${err.code})`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** A path segment with its characters escaped (channel names hold `:`, which is fine raw but never `/`). */
export const segment = (value: string): string => encodeURIComponent(value);
