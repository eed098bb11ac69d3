import { z } from 'zod';
import { duration, int, stringList } from '../../config/fields.js';

const isHttpUrl = (v: string): boolean => {
  if (v === '') return true;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
};
const url = () => z.string().refine(isHttpUrl, 'expected an http(s) URL, or "" for off');
const hookUrl = (description: string) => url().default('').describe(`${description} (default "": off)`);

/** Options of backend hooks, at `backendHooks` in the config (see docs/backend-hooks.md). */
export const backendHooksConfig = z.strictObject({
  connectUrl: hookUrl('backend URL that authenticates a `connect` without a token'),
  refreshUrl: hookUrl('backend URL that extends an expiring connection the connect hook authenticated'),
  subscribeUrl: hookUrl('backend URL asked before every subscribe (per namespace: `namespaces`)'),
  publishUrl: hookUrl('backend URL asked before every client publish; it may rewrite the data (per namespace: `namespaces`)'),
  rpcUrl: hookUrl('backend URL that answers the `rpc` command'),
  namespaces: z
    .record(z.string(), z.strictObject({ subscribeUrl: url().optional(), publishUrl: url().optional() }))
    .default({})
    .describe('per-namespace subscribe and publish URLs, replacing the ones above ("" turns a hook off there) (default {})'),
  timeout: duration('2s', 'deadline of one backend call, answer read included'),
  maxConcurrency: int(64, 1, 100_000, 'backend calls in flight on this node; beyond, a call is refused at once with 121'),
  maxResponseBytes: int(65_536, 256, 16_777_216, 'largest backend answer, bytes; larger is 120'),
  headers: stringList().default([]).describe('headers of the WebSocket upgrade request passed on to the backend, by name (default none)'),
  secret: z.string().default('').describe('when set, each call is signed: X-Switchboard-Signature = HMAC-SHA256 of "timestamp.body" (default "": unsigned)'),
});

export type BackendHooksConfig = z.output<typeof backendHooksConfig>;
