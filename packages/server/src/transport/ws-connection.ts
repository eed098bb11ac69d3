import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Connection } from '../core/connection.js';
import type { TimerWheel } from '../core/timer-wheel.js';
import { type FrameCache, joinedTextFrame } from './ws-frames.js';

/** How long a closing socket may take to finish the close handshake before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

const terminate = (ws: WebSocket): void => ws.terminate();

/**
 * A Connection over one `ws` socket. Messages are framed here and written straight to the
 * TCP socket: a payload sent to many sockets is framed once (FrameCache), and a turn's text
 * frames for one socket go out in one write. `ws` still handles reading, control frames and
 * the close handshake; without permessage-deflate its sender writes to the socket
 * synchronously, so both writers keep their order.
 */
export class WsConnection implements Connection {
  readonly #socket: Socket;
  #closing = false;

  constructor(
    readonly ws: WebSocket,
    private readonly frames: FrameCache,
    private readonly wheel: TimerWheel,
  ) {
    this.#socket = (ws as unknown as { _socket: Socket })._socket;
  }

  get writable(): boolean {
    return this.ws.readyState === WebSocket.OPEN && this.#socket.writable;
  }

  send(frames: readonly Buffer[], count: number, bytes: number): void {
    if (!this.writable) return;
    this.#socket.write(count === 1 ? this.frames.frame(frames[0] as Buffer) : joinedTextFrame(frames, count, bytes));
  }

  sendBinary(payload: Buffer): void {
    if (this.writable) this.#socket.write(this.frames.frame(payload, true));
  }

  /** Send one message of either kind (endpoints that send as they go, not once per turn). */
  sendOne(payload: Buffer, binary: boolean): void {
    if (this.writable) this.#socket.write(this.frames.frame(payload, binary));
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
