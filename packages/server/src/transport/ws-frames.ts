/**
 * Server-to-client WebSocket frames (text or binary) built once per payload, so a message
 * sent to many sockets is framed once and the same bytes are written to each (RFC 6455
 * §5.2: server frames are unmasked, so the bytes do not depend on the recipient).
 */

const FIN_TEXT = 0x81;
const FIN_BINARY = 0x82;
const NEWLINE = 0x0a;
/** Longest list of payloads whose joined frame FrameCache remembers. */
const MAX_JOINED_CACHED = 16;

/** Bytes of the header of a server frame (unmasked) whose payload is `length` bytes. */
export function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** Write a server frame's header (`first`: FIN, RSV and opcode bits); returns its length. */
export function writeHeader(out: Buffer, length: number, first = FIN_TEXT): number {
  out[0] = first;
  if (length < 126) {
    out[1] = length;
    return 2;
  }
  if (length < 65536) {
    out[1] = 126;
    out.writeUInt16BE(length, 2);
    return 4;
  }
  out[1] = 127;
  out.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  out.writeUInt32BE(length >>> 0, 6);
  return 10;
}

/** One text frame carrying `payload`. */
export function textFrame(payload: Buffer): Buffer {
  return frame(payload, false);
}

/** One frame, binary or text, carrying `payload`. */
export function frame(payload: Buffer, binary: boolean): Buffer {
  const out = Buffer.allocUnsafe(headerLength(payload.length) + payload.length);
  payload.copy(out, writeHeader(out, payload.length, binary ? FIN_BINARY : FIN_TEXT));
  return out;
}

/** One text frame carrying the first `count` payloads joined by newlines (`bytes` = their total length). */
export function joinedTextFrame(payloads: readonly Buffer[], count: number, bytes: number): Buffer {
  const length = bytes + count - 1;
  const out = Buffer.allocUnsafe(headerLength(length) + length);
  let pos = writeHeader(out, length);
  for (let i = 0; i < count; i++) {
    if (i > 0) out[pos++] = NEWLINE;
    const p = payloads[i] as Buffer;
    p.copy(out, pos);
    pos += p.length;
  }
  return out;
}

/**
 * Remembers the frame of the last payload framed. A node flushes the subscribers of one
 * publication one after another, each with the same payload Buffer, so one entry is enough
 * to frame a publication once however many sockets receive it.
 */
export class FrameCache {
  #payload: Buffer | null = null;
  #binary = false;
  #frame: Buffer | null = null;
  #joinedOf: readonly Buffer[] = [];
  #joined: Buffer | null = null;

  frame(payload: Buffer, binary = false): Buffer {
    if (payload === this.#payload && binary === this.#binary) return this.#frame as Buffer;
    const out = frame(payload, binary);
    this.#payload = payload;
    this.#binary = binary;
    this.#frame = out;
    return out;
  }

  /**
   * One text frame of the first `count` payloads joined by newlines, the same Buffer as last
   * time when they are the same payloads: a node that coalesced several publications for each
   * subscriber of a channel frames them once, not once per socket.
   */
  joined(payloads: readonly Buffer[], count: number, bytes: number): Buffer {
    const last = this.#joinedOf;
    let same = last.length === count && this.#joined !== null;
    for (let i = 0; same && i < count; i++) same = last[i] === payloads[i];
    if (same) return this.#joined as Buffer;
    const out = joinedTextFrame(payloads, count, bytes);
    if (count <= MAX_JOINED_CACHED) {
      this.#joinedOf = payloads.slice(0, count);
      this.#joined = out;
    }
    return out;
  }
}
