import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Logger } from 'pino';
import { encodeFrame, FrameReader } from './frames.js';
import { errorFromWire, type HostFrame, hostUnavailable, type WireError, type WorkerFrame } from './wire.js';

export interface InHostConnectionOptions {
  /** The host's Unix socket. */
  path: string;
  /** This worker's node id (default: `worker-<pid>-<random>`). */
  nodeId?: string;
  /** A request without a reply after this long fails with 116 (ms, default 5000). */
  requestTimeout?: number;
  /** How long `open` waits for the first connection before it resolves unready (ms, default 5000). */
  connectWait?: number;
  /**
   * Heartbeats go to the host every third of this; a host silent for this long (ms, default
   * 15,000) is taken as gone and the connection is made again. The host's own timeout should match.
   */
  heartbeatTimeout?: number;
  logger?: Logger;
}

const BEAT = encodeFrame({ h: 'beat' } satisfies WorkerFrame);

type Push = Extract<HostFrame, { p: string }>;

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  deadline: number;
}

/** Run on every (re)connection before requests are let through: the engine's parts put their state back. */
export type Reconnected = (first: boolean) => Promise<void>;

/**
 * A worker's one connection to the in-host engine's host: requests pipelined by id (any
 * number in flight, each reply to its own caller), pushes in the order the host sent them.
 * While the host cannot be reached every call fails at once with the temporary 116, calls
 * in flight when it went away too; it reconnects with backoff and lets the parts restore.
 */
export class InHostConnection {
  readonly nodeId: string;
  readonly #options: InHostConnectionOptions;
  readonly #pending = new Map<number, Pending>();
  readonly #pushHandlers: Array<(push: Push, body: string | undefined) => void> = [];
  readonly #reconnected: Reconnected[] = [];
  readonly #readyWaiters: Array<() => void> = [];
  readonly #sweeper: NodeJS.Timeout;
  readonly #heartbeat: NodeJS.Timeout;
  /** When the last bytes arrived from the host (ms). */
  #lastHeard = 0;
  #socket: net.Socket | null = null;
  #hostId: string | null = null;
  /** Welcomed and restored: requests may go. */
  #ready = false;
  /** Welcomed, restoring: only the parts' restore requests may go. */
  #restoring = false;
  #nextId = 0;
  #attempt = 0;
  #retry: NodeJS.Timeout | null = null;
  #refs = 0;
  #closed = false;

  private constructor(options: InHostConnectionOptions) {
    this.#options = options;
    this.nodeId = options.nodeId ?? `worker-${process.pid}-${randomBytes(4).toString('hex')}`;
    // One sweep for every request's deadline, not a timer per request.
    this.#sweeper = setInterval(() => this.#expire(), Math.min(500, this.#timeout));
    this.#sweeper.unref();
    const timeout = options.heartbeatTimeout ?? 15_000;
    this.#heartbeat = setInterval(() => this.#beat(timeout), Math.max(10, Math.floor(timeout / 3)));
    this.#heartbeat.unref();
  }

  static async open(options: InHostConnectionOptions): Promise<InHostConnection> {
    const conn = new InHostConnection(options);
    conn.#connect();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.connectWait ?? 5000);
      conn.#readyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return conn;
  }

  get #timeout(): number {
    return this.#options.requestTimeout ?? 5000;
  }

  ready(): boolean {
    return this.#ready;
  }

  retain(): this {
    this.#refs++;
    return this;
  }

  async release(): Promise<void> {
    if (--this.#refs > 0 || this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    clearInterval(this.#heartbeat);
    if (this.#retry) clearTimeout(this.#retry);
    this.#socket?.destroy();
    this.#failAll('closed');
  }

  onPush(handler: (push: Push, body: string | undefined) => void): void {
    this.#pushHandlers.push(handler);
  }

  onReconnected(fn: Reconnected): void {
    this.#reconnected.push(fn);
  }

  /** Call `method` on the host; `body` carries a publication's data as is. */
  request<T>(method: string, args: unknown[], body?: string): Promise<T> {
    return this.#send(method, args, body, this.#ready);
  }

  /** A request of the restore step, sent before the connection counts as ready. */
  restoreRequest<T>(method: string, args: unknown[]): Promise<T> {
    return this.#send(method, args, undefined, this.#ready || this.#restoring);
  }

  /** Answer a host's question (no `value`: no answer from this worker). */
  answer(q: number, value: unknown): void {
    const frame: WorkerFrame = value === undefined ? { a: q } : { a: q, v: value };
    this.#socket?.write(encodeFrame(frame));
  }

  #send<T>(method: string, args: unknown[], body: string | undefined, open: boolean): Promise<T> {
    const socket = this.#socket;
    if (!open || !socket) return Promise.reject(hostUnavailable(this.#closed ? 'closed' : 'not connected'));
    const q = ++this.#nextId;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(q, { resolve: resolve as (v: unknown) => void, reject, deadline: Date.now() + this.#timeout });
      socket.write(encodeFrame({ q, m: method, a: args } satisfies WorkerFrame, body));
    });
  }

  #connect(): void {
    if (this.#closed) return;
    const socket = net.connect(this.#options.path);
    this.#socket = socket;
    const reader = new FrameReader();
    socket.on('connect', () => {
      this.#lastHeard = Date.now();
      socket.write(encodeFrame({ h: 'hello', node: this.nodeId } satisfies WorkerFrame));
    });
    socket.on('data', (chunk: Buffer) => {
      this.#lastHeard = Date.now();
      try {
        for (const { header, body } of reader.push(chunk)) this.#receive(header as HostFrame, body);
      } catch (err) {
        this.#options.logger?.warn({ err }, 'in-host engine: unreadable frame from the host; reconnecting');
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      const wasReady = this.#ready;
      this.#ready = false;
      this.#restoring = false;
      this.#failAll('connection lost');
      if (this.#closed) return;
      if (wasReady) this.#options.logger?.warn({ node: this.nodeId }, 'in-host engine: connection to the host lost; reconnecting');
      const delay = Math.min(25 * 2 ** Math.min(this.#attempt++, 6), 1000);
      this.#retry = setTimeout(() => this.#connect(), delay);
      this.#retry.unref();
    });
  }

  #receive(frame: HostFrame, body: string | undefined): void {
    if ('p' in frame) {
      for (const handler of this.#pushHandlers) handler(frame, body);
      return;
    }
    if ('r' in frame) {
      const pending = this.#pending.get(frame.r);
      if (!pending) return;
      this.#pending.delete(frame.r);
      if ('x' in frame) pending.reject(errorFromWire(frame.x as WireError));
      else pending.resolve(frame.v);
      return;
    }
    if ('h' in frame && frame.h === 'welcome') void this.#welcomed(frame.host);
  }

  async #welcomed(host: string): Promise<void> {
    const first = this.#hostId === null;
    this.#hostId = host;
    this.#restoring = true;
    const socket = this.#socket;
    try {
      for (const fn of this.#reconnected) await fn(first);
    } catch (err) {
      // The connection went away while restoring (or the host refused): start over.
      this.#options.logger?.warn({ err }, 'in-host engine: restoring state on the host failed; reconnecting');
      socket?.destroy();
      return;
    }
    if (this.#socket !== socket || socket === null) return;
    this.#restoring = false;
    this.#ready = true;
    this.#attempt = 0;
    if (!first) this.#options.logger?.info({ node: this.nodeId, host }, 'in-host engine: connected to the host again');
    for (const fn of this.#readyWaiters.splice(0)) fn();
  }

  /** Beat to the host; a host silent too long (hung, or this process was stopped) means connecting again. */
  #beat(timeout: number): void {
    const socket = this.#socket;
    if (!socket || socket.connecting) return;
    if (Date.now() - this.#lastHeard > timeout) {
      this.#options.logger?.warn({ node: this.nodeId }, 'in-host engine: the host stopped answering; reconnecting');
      socket.destroy();
      return;
    }
    socket.write(BEAT);
  }

  #failAll(why: string): void {
    const err = hostUnavailable(why);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(err);
  }

  #expire(): void {
    const now = Date.now();
    // Requests are in the map in the order sent, so the first unexpired one ends the sweep.
    for (const [q, p] of this.#pending) {
      if (p.deadline > now) return;
      this.#pending.delete(q);
      p.reject(hostUnavailable('did not answer in time'));
    }
  }
}
