import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Connection } from '../core/connection.js';
import type { TimerWheel } from '../core/timer-wheel.js';
import type { DeflateFrames } from './ws-deflate.js';
import type { FrameCache } from './ws-frames.js';

/** The transport's frame makers, shared by its connections: plain, and compressed when compression is on. */
export interface Framers {
  readonly plain: FrameCache;
  readonly deflate: DeflateFrames | null;
}

/** How long a closing socket may take to finish the close handshake before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

const terminate = (ws: WebSocket): void => ws.terminate();

/**
 * A Connection over one `ws` socket. Messages are framed here and written straight to the
 * TCP socket: a payload sent to many sockets is framed once (FrameCache), and a turn's text
 * frames for one socket go out in one write. `ws` still handles reading, control frames and
 * the close handshake (its sender never compresses: it only sends control frames, which it
 * writes to the socket synchronously, so both writers keep their order). A socket that
 * negotiated permessage-deflate gets messages from the threshold up compressed, each payload
 * deflated once for all sockets (DeflateFrames).
 */
export class WsConnection implements Connection {
  readonly #socket: Socket;
  readonly #frames: FrameCache;
  /** Set when this socket negotiated permessage-deflate. */
  readonly #deflate: DeflateFrames | null;
  #closing = false;

  constructor(
    readonly ws: WebSocket,
    framers: Framers,
    private readonly wheel: TimerWheel,
  ) {
    this.#socket = (ws as unknown as { _socket: Socket })._socket;
    this.#frames = framers.plain;
    this.#deflate = framers.deflate !== null && ws.extensions !== '' ? framers.deflate : null;
  }

  get writable(): boolean {
    return this.ws.readyState === WebSocket.OPEN && this.#socket.writable;
  }

  send(frames: readonly Buffer[], count: number, bytes: number): void {
    if (!this.writable) return;
    const deflate = this.#deflate;
    if (deflate !== null && bytes + count - 1 >= deflate.threshold) this.#socket.write(deflate.joined(frames, count));
    else this.#socket.write(count === 1 ? this.#frames.frame(frames[0] as Buffer) : this.#frames.joined(frames, count, bytes));
  }

  sendBinary(payload: Buffer): void {
    this.sendOne(payload, true);
  }

  /** Send one message of either kind (endpoints that send as they go, not once per turn). */
  sendOne(payload: Buffer, binary: boolean): void {
    if (!this.writable) return;
    const deflate = this.#deflate;
    if (deflate !== null && payload.length >= deflate.threshold) this.#socket.write(deflate.frame(payload, binary));
    else this.#socket.write(this.#frames.frame(payload, binary));
  }

  close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    this.wheel.schedule(CLOSE_GRACE_MS, terminate, this.ws);
  }

  bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  /** Resolves when the socket's write buffer is empty, or the socket is gone. */
  drained(): Promise<void> {
    const socket = this.#socket;
    if (socket.writableLength === 0 || !socket.writable) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  /** Hold writes until the end of this turn, so what one connection is sent in a turn is one syscall. */
  cork(): void {
    this.#socket.cork();
  }

  uncork(): void {
    this.#socket.uncork();
  }
}
