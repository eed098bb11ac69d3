/**
 * The in-host engine's framing over a stream socket: `[u32 rest][u32 headerBytes][header][body]`,
 * big-endian lengths. The header is JSON; the body is UTF-8 text carried as is, so a
 * publication's data (already JSON text) is never escaped into another JSON string.
 */

/** Frames larger than this end the connection: a peer that sends one is broken or hostile. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export function encodeFrame(header: unknown, body?: string): Buffer {
  const head = JSON.stringify(header);
  const headBytes = Buffer.byteLength(head);
  const bodyBytes = body === undefined ? 0 : Buffer.byteLength(body);
  const frame = Buffer.allocUnsafe(8 + headBytes + bodyBytes);
  frame.writeUInt32BE(4 + headBytes + bodyBytes, 0);
  frame.writeUInt32BE(headBytes, 4);
  frame.write(head, 8, 'utf8');
  if (body !== undefined) frame.write(body, 8 + headBytes, 'utf8');
  return frame;
}

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Splits a byte stream into frames; `push` returns the complete ones (header parsed, body as text or undefined). */
export class FrameReader {
  #pending: Buffer | null = null;

  push(chunk: Buffer): Array<{ header: unknown; body: string | undefined }> {
    let buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    const frames: Array<{ header: unknown; body: string | undefined }> = [];
    let at = 0;
    while (buf.length - at >= 4) {
      const rest = buf.readUInt32BE(at);
      if (rest < 4 || rest > MAX_FRAME_BYTES) throw new FrameError(`frame of ${rest} bytes`);
      if (buf.length - at < 4 + rest) break;
      const headBytes = buf.readUInt32BE(at + 4);
      if (headBytes > rest - 4) throw new FrameError('header longer than its frame');
      const headEnd = at + 8 + headBytes;
      const header: unknown = JSON.parse(buf.toString('utf8', at + 8, headEnd));
      const end = at + 4 + rest;
      frames.push({ header, body: end > headEnd ? buf.toString('utf8', headEnd, end) : undefined });
      at = end;
    }
    if (at === buf.length) this.#pending = null;
    else {
      buf = buf.subarray(at);
      // Keep a copy of a small remainder, so one large chunk is not held for a few bytes.
      this.#pending = at > 0 && buf.length < 4096 ? Buffer.from(buf) : buf;
    }
    return frames;
  }
}
