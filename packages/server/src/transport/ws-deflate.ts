import { constants, deflateRawSync } from 'node:zlib';
import type { NodeStats } from '../observability/stats.js';
import { headerLength, writeHeader } from './ws-frames.js';

/**
 * Compressed WebSocket messages (RFC 7692), each payload deflated once for every socket.
 *
 * With `server_no_context_takeover` negotiated, a compressed message depends on nothing sent
 * before it, so its bytes are the same for every recipient. A payload is deflated alone and
 * sync-flushed (the segment ends with the empty stored block 00 00 ff ff and has no final
 * block); such segments concatenate into one valid deflate stream, so a turn's batch for one
 * socket is the payloads' cached segments with a "\n" segment between them, minus the last
 * four bytes (§7.2.1), in one frame with RSV1 set. One deflate per publication, however many
 * sockets and batches carry it.
 */

const FIN_RSV1_TEXT = 0xc1;
const FIN_RSV1_BINARY = 0xc2;
/** §7.2.1: the tail of a sync flush, removed from the end of every compressed message. */
const TAIL = 4;

const SYNC = { finishFlush: constants.Z_SYNC_FLUSH };

export class DeflateFrames {
  /** Deflated segments by payload: alive as long as the payload Buffer is. */
  readonly #segments = new WeakMap<Buffer, Buffer>();
  readonly #newline: Buffer;
  /** The last single-payload frame made: a publication's subscribers are flushed one after another. */
  #payload: Buffer | null = null;
  #binary = false;
  #frame: Buffer | null = null;

  constructor(
    private readonly stats: NodeStats,
    /** Messages shorter than this, in bytes, are sent uncompressed. */
    readonly threshold: number,
  ) {
    this.#newline = deflateRawSync(Buffer.from('\n'), SYNC);
  }

  /** The sync-flushed deflate segment of `payload`, made once per Buffer. */
  segment(payload: Buffer): Buffer {
    let out = this.#segments.get(payload);
    if (out === undefined) {
      out = deflateRawSync(payload, SYNC);
      this.stats.compressions++;
      this.stats.compressionBytesIn += payload.length;
      this.stats.compressionBytesOut += out.length;
      this.#segments.set(payload, out);
    }
    return out;
  }

  /** One compressed frame carrying `payload`. */
  frame(payload: Buffer, binary = false): Buffer {
    this.stats.compressedMessages++;
    if (payload === this.#payload && binary === this.#binary) return this.#frame as Buffer;
    const segment = this.segment(payload);
    const length = segment.length - TAIL;
    const out = Buffer.allocUnsafe(headerLength(length) + length);
    segment.copy(out, writeHeader(out, length, binary ? FIN_RSV1_BINARY : FIN_RSV1_TEXT), 0, length);
    this.#payload = payload;
    this.#binary = binary;
    this.#frame = out;
    return out;
  }

  /** One compressed text frame carrying the first `count` payloads joined by newlines. */
  joined(payloads: readonly Buffer[], count: number): Buffer {
    if (count === 1) return this.frame(payloads[0] as Buffer);
    this.stats.compressedMessages++;
    const newline = this.#newline;
    let length = newline.length * (count - 1) - TAIL;
    for (let i = 0; i < count; i++) length += this.segment(payloads[i] as Buffer).length;
    const out = Buffer.allocUnsafe(headerLength(length) + length);
    let pos = writeHeader(out, length, FIN_RSV1_TEXT);
    for (let i = 0; i < count; i++) {
      if (i > 0) pos += newline.copy(out, pos);
      const segment = this.segment(payloads[i] as Buffer);
      pos += segment.copy(out, pos, 0, i === count - 1 ? segment.length - TAIL : segment.length);
    }
    return out;
  }
}
