import { ErrorCode } from '@switchboard/protocol';
import { SwitchboardError } from './errors.js';
import type { FeatureHost } from './feature-module.js';

/** Longest method name the server accepts. */
const MAX_METHOD = 128;

/**
 * `rpc`: the server forwards `{ method, data }` to the app's backend (backend hooks, see
 * docs/backend-hooks.md) and replies `{ data }` with its answer; this resolves with that
 * answer, or rejects with the SwitchboardError the server replied (119 backend unavailable,
 * 120 invalid answer, 121 busy, 103 or the backend's own code when it refused).
 */
export function callRpc<R>(host: Pick<FeatureHost, 'call'>, method: string, data: unknown): Promise<R> {
  if (typeof method !== 'string' || method.length === 0 || method.length > MAX_METHOD) {
    return Promise.reject(SwitchboardError.of(ErrorCode.BadRequest, `rpc method must be 1 to ${MAX_METHOD} characters`));
  }
  return host.call<{ data: R }>('rpc', { method, data: data ?? null }).then((result) => result.data);
}
