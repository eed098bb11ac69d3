import type { Socket } from 'node:net';
import type { Connection } from '../core/connection.js';
import type { TimerWheel } from '../core/timer-wheel.js';

/** How long a closed stream may take to flush before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

const DATA = Buffer.from('data: ');
const NEWLINE = 0x0a;
/** A comment line: proxies that cut idle responses see bytes, the reader ignores them. */
export const KEEPALIVE = Buffer.from(':\n\n');

const destroy = (socket: Socket): void => {
  socket.destroy();
};

/**
 * One Server-Sent Events message: each frame is a `data:` line, so the reader joins them with
 * newlines and gets exactly the text a WebSocket message would carry.
 */
export function eventOf(frames: readonly Buffer[], count: number, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes + count * (DATA.length + 1) + 1);
  let pos = 0;
  for (let i = 0; i < count; i++) {
    pos += DATA.copy(out, pos);
    pos += (frames[i] as Buffer).copy(out, pos);
    out[pos++] = NEWLINE;
  }
  out[pos] = NEWLINE;
  return out;
}

/**
 * Remembers the event of the last payload: a node flushes the subscribers of one publication
 * one after another with the same Buffer, so a publication is framed once for all streams.
 */
export class EventCache {
  #payload: Buffer | null = null;
  #event: Buffer | null = null;

  event(payload: Buffer): Buffer {
    if (payload === this.#payload) return this.#event as Buffer;
    const out = eventOf([payload], 1, payload.length);
    this.#payload = payload;
    this.#event = out;
    return out;
  }
}

/** A named event with a JSON body (the stream's session id, its close code). */
export function namedEvent(name: string, data: unknown): Buffer {
  return Buffer.from(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
}

/**
 * A Connection over one Server-Sent Events stream (server → client); the client's frames
 * arrive by POST and the transport hands them to the Client. The response is written straight
 * to the TCP socket (no chunked encoding: the stream ends when the socket does), one write
 * per turn, like a WsConnection.
 */
export class SseConnection implements Connection {
  #closing = false;

  constructor(
    readonly socket: Socket,
    private readonly events: EventCache,
    private readonly wheel: TimerWheel,
  ) {}

  get writable(): boolean {
    return !this.#closing && this.socket.writable;
  }

  send(frames: readonly Buffer[], count: number, bytes: number): void {
    if (!this.writable) return;
    this.socket.write(count === 1 ? this.events.event(frames[0] as Buffer) : eventOf(frames, count, bytes));
  }

  /** The kernel protocol sends no binary messages; the stream carries text only. */
  sendBinary(): void {}

  keepalive(): void {
    if (this.writable && this.socket.writableLength === 0) this.socket.write(KEEPALIVE);
  }

  /** Tell the reader the close code (its WebSocket close frame), end the stream, destroy it if it lingers. */
  close(code: number, reason: string): void {
    if (this.#closing) return;
    if (this.socket.writable) this.socket.end(namedEvent('close', { code, reason }));
    this.#closing = true;
    this.wheel.schedule(CLOSE_GRACE_MS, destroy, this.socket);
  }

  bufferedAmount(): number {
    return this.socket.writableLength;
  }
}
