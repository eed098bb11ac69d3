import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Connection } from '../core/connection.js';
import type { TimerWheel } from '../core/timer-wheel.js';
import type { DeflateFrames } from './ws-deflate.js';
import { type SharedStreams, StreamPosition } from './ws-deflate-streams.js';
import type { FrameCache } from './ws-frames.js';

/** The transport's frame makers, shared by its connections: plain, and compressed when compression is on. */
export interface Framers {
  readonly plain: FrameCache;
  readonly deflate: DeflateFrames | null;
  /** Shared compression streams, for sockets that negotiated context takeover (null: every compressed message alone). */
  readonly streams: SharedStreams | null;
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
 * deflated once for all sockets (DeflateFrames); one that negotiated context takeover too gets
 * each channel's runs of publications from the channel's shared stream (SharedStreams), as
 * messages of their own, and anything else compressed alone, or uncompressed when small.
 */
export class WsConnection implements Connection {
  readonly #socket: Socket;
  readonly #frames: FrameCache;
  /** Set when this socket negotiated permessage-deflate. */
  readonly #deflate: DeflateFrames | null;
  /** Where this socket's inflater stands, when it keeps its window between messages (context takeover). */
  readonly #position: StreamPosition | null;
  readonly #streams: SharedStreams | null;
  #closing = false;

  constructor(
    readonly ws: WebSocket,
    framers: Framers,
    private readonly wheel: TimerWheel,
  ) {
    this.#socket = (ws as unknown as { _socket: Socket })._socket;
    this.#frames = framers.plain;
    this.#deflate = framers.deflate !== null && ws.extensions !== '' ? framers.deflate : null;
    this.#streams = this.#deflate !== null ? framers.streams : null;
    this.#position = this.#streams !== null ? new StreamPosition() : null;
  }

  get writable(): boolean {
    return this.ws.readyState === WebSocket.OPEN && this.#socket.writable;
  }

  send(frames: readonly Buffer[], count: number, bytes: number, streams?: readonly (string | null)[]): void {
    if (!this.writable) return;
    const deflate = this.#deflate;
    if (deflate === null || bytes + count - 1 < deflate.threshold) {
      this.#socket.write(count === 1 ? this.#frames.frame(frames[0] as Buffer) : this.#frames.joined(frames, count, bytes));
      return;
    }
    if (this.#position === null || streams === undefined) {
      this.#position?.clear();
      this.#socket.write(deflate.joined(frames, count));
      return;
    }
    this.#sendRuns(deflate, frames, count, streams);
  }

  /**
   * With context takeover: each run of consecutive frames of one stream is a message of its
   * own from that stream; the frames between runs go as one message, compressed alone when
   * they reach the threshold, else uncompressed. Written in order, in one write.
   */
  #sendRuns(deflate: DeflateFrames, frames: readonly Buffer[], count: number, streams: readonly (string | null)[]): void {
    const position = this.#position as StreamPosition;
    const shared = this.#streams as SharedStreams;
    const out: Buffer[] = [];
    let loose = 0;
    let at = 0;
    while (at < count) {
      const key = streams[at] ?? null;
      let end = at + 1;
      while (end < count && (streams[end] ?? null) === key) end++;
      if (key !== null) {
        let bytes = end - at - 1;
        for (let i = at; i < end; i++) bytes += (frames[i] as Buffer).length;
        if (bytes >= deflate.threshold) {
          if (loose < at) out.push(this.#loose(deflate, frames, loose, at));
          out.push(shared.frame(position, key, frames, at, end));
          loose = end;
        }
      }
      at = end;
    }
    if (loose < count) out.push(this.#loose(deflate, frames, loose, count));
    this.#socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
  }

  /** frames[start, end) outside every stream: one message, compressed alone from the threshold up (the socket then leaves its stream). */
  #loose(deflate: DeflateFrames, frames: readonly Buffer[], start: number, end: number): Buffer {
    const run = start === 0 && end === frames.length ? frames : frames.slice(start, end);
    const count = end - start;
    let bytes = count - 1;
    for (const f of run) bytes += f.length;
    if (bytes < deflate.threshold) return count === 1 ? this.#frames.frame(run[0] as Buffer) : this.#frames.joined(run, count, bytes - count + 1);
    this.#position?.clear();
    return count === 1 ? deflate.frame(run[0] as Buffer) : deflate.joined(run, count);
  }

  sendBinary(payload: Buffer): void {
    this.sendOne(payload, true);
  }

  /** Send one message of either kind (endpoints that send as they go, not once per turn). */
  sendOne(payload: Buffer, binary: boolean): void {
    if (!this.writable) return;
    const deflate = this.#deflate;
    if (deflate !== null && payload.length >= deflate.threshold) {
      this.#position?.clear();
      this.#socket.write(deflate.frame(payload, binary));
    } else this.#socket.write(this.#frames.frame(payload, binary));
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
