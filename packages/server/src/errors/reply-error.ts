import type { ErrorCodeInfo, ReplyError as WireReplyError } from '@switchboard/protocol';

/** A typed error that becomes a reply `{code, message, temporary}`; never a bare Error. */
export class ReplyError extends Error {
  readonly code: number;
  readonly temporary: boolean;
  /** Milliseconds until the same command may succeed (a rate budget's refusal), if known. */
  readonly retryAfter: number | undefined;
  /** Details the caller may act on (a JSON value), sent as `data`. */
  data: unknown;

  constructor(info: ErrorCodeInfo, detail?: string, retryAfter?: number) {
    super(detail ? `${info.message}: ${detail}` : info.message);
    this.code = info.code;
    this.temporary = info.temporary;
    this.retryAfter = retryAfter !== undefined && Number.isFinite(retryAfter) ? Math.max(1, Math.ceil(retryAfter)) : undefined;
  }

  toWire(): WireReplyError {
    const wire: WireReplyError = { code: this.code, message: this.message, temporary: this.temporary };
    if (this.retryAfter !== undefined) wire.retryAfter = this.retryAfter;
    if (this.data !== undefined) wire.data = this.data;
    return wire;
  }
}
