import type { ErrorCodeInfo, ReplyError } from '@switchboard/protocol';
import type { ClientCodeInfo } from './codes.js';

/**
 * The error every SDK promise rejects with. `code` is a server reply error code
 * (100–1999, see `ErrorCode`) or an SDK code (0–99, see `ClientCode`).
 *
 * @example
 * try { await sub.publish({ text: 'hi' }); }
 * catch (err) {
 *   if (err instanceof SwitchboardError && err.code === ErrorCode.PermissionDenied.code) showReadOnly();
 *   else if (err instanceof SwitchboardError && err.temporary) retryLater();
 * }
 */
export class SwitchboardError extends Error {
  readonly code: number;
  /** True when the same call may succeed if retried later. */
  readonly temporary: boolean;
  /** With 111 TooManyRequests from the per-user budget: milliseconds until the same call may succeed. */
  readonly retryAfter: number | undefined;
  /** Details of the reply error (a JSON value), e.g. `{ holder }` with 130 Locked. */
  data: unknown;

  constructor(code: number, message: string, temporary: boolean, retryAfter?: number) {
    super(message);
    this.name = 'SwitchboardError';
    this.code = code;
    this.temporary = temporary;
    this.retryAfter = retryAfter;
  }

  /** The error of a server reply `{code, message, temporary, retryAfter?}`. */
  static fromReply(error: ReplyError): SwitchboardError {
    const retryAfter = typeof error.retryAfter === 'number' && error.retryAfter > 0 ? error.retryAfter : undefined;
    const err = new SwitchboardError(error.code, error.message, error.temporary === true, retryAfter);
    if (error.data !== undefined) err.data = error.data;
    return err;
  }

  /** An error from a code table entry (`ClientCode.Timeout`, `ErrorCode.InvalidChannel`, …). */
  static of(info: ClientCodeInfo | ErrorCodeInfo, detail?: string): SwitchboardError {
    const message = 'reason' in info ? info.reason : info.message;
    return new SwitchboardError(info.code, detail ? `${message}: ${detail}` : message, info.temporary);
  }
}

/** `err` as a SwitchboardError: itself when it is one, else `fallback` with its message. */
export function toError(err: unknown, fallback: ClientCodeInfo): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  return SwitchboardError.of(fallback, err instanceof Error ? err.message : String(err));
}
