import type { ErrorCodeInfo, ReplyError as WireReplyError } from '@switchboard/protocol';

/** A typed error that becomes a reply `{code, message, temporary}`; never a bare Error. */
export class ReplyError extends Error {
  readonly code: number;
  readonly temporary: boolean;

  constructor(info: ErrorCodeInfo, detail?: string) {
    super(detail ? `${info.message}: ${detail}` : info.message);
    this.code = info.code;
    this.temporary = info.temporary;
  }

  toWire(): WireReplyError {
    return { code: this.code, message: this.message, temporary: this.temporary };
  }
}
