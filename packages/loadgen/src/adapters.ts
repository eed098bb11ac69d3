import { io, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { type ComparePayload, type ServerKind, TENANT } from './comparison.js';
import { mintToken } from './token.js';

/** Called for every publication a bench client receives. */
export type OnPub = (data: ComparePayload) => void;

/** One bench connection to one of the three servers, with the same small surface for each. */
export interface BenchClient {
  /** Resolves once the connection is usable (Switchboard: `connect` command answered). */
  readonly ready: Promise<void>;
  subscribe(channel: string): Promise<void>;
  /** Publish; resolves when the server accepted it (raw ws has no ack: resolves at once). */
  publish(channel: string, data: ComparePayload): Promise<void>;
  /** Close and resolve when the socket is closed (terminates after `graceMs`). */
  close(graceMs?: number): Promise<'closed' | 'forced'>;
}

export interface ClientOptions {
  url: string;
  localAddress?: string;
  token?: string;
  onPub?: OnPub;
}

/** The token of a comparison client: tenant `bench`, subscribe and publish on `project:*`, valid 4 hours. */
export function mintBenchToken(secret: string, sub: string): Promise<string> {
  return mintToken(secret, { sub, tenant: TENANT, caps: { 'project:*': ['subscribe', 'publish'] }, ttlSeconds: 4 * 3600 });
}

export function createClient(kind: ServerKind, opts: ClientOptions): BenchClient {
  if (kind === 'switchboard') return new SwitchboardClient(opts);
  if (kind === 'socketio') return new SocketIoClient(opts);
  return new RawWsClient(opts);
}

function wsClose(ws: WebSocket, graceMs: number): Promise<'closed' | 'forced'> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve('closed');
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve('forced');
    }, graceMs);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else ws.close();
  });
}

function wsOpen(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed ${code}`)));
  });
}

/** Switchboard protocol v1 over `ws`: JSON frames, "\n"-separated, commands with ids, pong on ping. */
class SwitchboardClient implements BenchClient {
  readonly ready: Promise<void>;
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  readonly #onPub: OnPub | undefined;
  #nextId = 1;

  constructor(opts: ClientOptions) {
    this.#onPub = opts.onPub;
    this.#ws = new WebSocket(`${opts.url}/ws`, { perMessageDeflate: false, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    this.#ws.on('message', (buf: Buffer) => this.#onMessage(buf.toString()));
    this.#ws.on('error', () => {});
    this.#ws.on('close', () => {
      for (const p of this.#pending.values()) p.reject(new Error('closed'));
      this.#pending.clear();
    });
    this.ready = wsOpen(this.#ws).then(() => this.#call('connect', { token: opts.token }));
  }

  #onMessage(text: string): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      const line = nl === -1 ? text.slice(start) : text.slice(start, nl);
      if (line.length > 0) this.#onFrame(line);
      if (nl === -1) break;
      start = nl + 1;
    }
  }

  #onFrame(line: string): void {
    const frame = JSON.parse(line) as { push?: string; id?: number; data?: ComparePayload; error?: { message: string } };
    if (frame.push === 'pub') {
      this.#onPub?.(frame.data as ComparePayload);
    } else if (frame.push === 'ping') {
      this.#ws.send('{"method":"pong"}');
    } else if (typeof frame.id === 'number') {
      const p = this.#pending.get(frame.id);
      if (!p) return;
      this.#pending.delete(frame.id);
      if (frame.error) p.reject(new Error(`${frame.error.message}`));
      else p.resolve();
    }
  }

  #call(method: string, params: unknown): Promise<void> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  subscribe(channel: string): Promise<void> {
    return this.#call('subscribe', { channel });
  }

  publish(channel: string, data: ComparePayload): Promise<void> {
    return this.#call('publish', { channel, data });
  }

  close(graceMs = 10_000): Promise<'closed' | 'forced'> {
    return wsClose(this.#ws, graceMs);
  }
}

/** socket.io-client 4.8.1, WebSocket transport only, no reconnection. */
class SocketIoClient implements BenchClient {
  readonly ready: Promise<void>;
  readonly #socket: Socket;

  constructor(opts: ClientOptions) {
    this.#socket = io(opts.url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 30_000,
      auth: { token: opts.token },
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    } as unknown as Parameters<typeof io>[1]);
    const onPub = opts.onPub;
    if (onPub) this.#socket.on('pub', (data: ComparePayload) => onPub(data));
    this.ready = new Promise((resolve, reject) => {
      this.#socket.once('connect', () => resolve());
      this.#socket.once('connect_error', (err) => reject(err));
    });
  }

  async subscribe(room: string): Promise<void> {
    await this.#socket.timeout(30_000).emitWithAck('join', room);
  }

  async publish(room: string, data: ComparePayload): Promise<void> {
    await this.#socket.timeout(30_000).emitWithAck('publish', { room, data });
  }

  close(graceMs = 10_000): Promise<'closed' | 'forced'> {
    const engine = this.#socket.io.engine;
    if (!engine || engine.readyState === 'closed') {
      this.#socket.disconnect();
      return Promise.resolve('closed');
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve('forced'), graceMs);
      engine.once('close', () => {
        clearTimeout(timer);
        resolve('closed');
      });
      this.#socket.disconnect();
    });
  }
}

/** The raw ws bench protocol: {"type":"sub"|"pub", channel, data}. */
class RawWsClient implements BenchClient {
  readonly ready: Promise<void>;
  readonly #ws: WebSocket;
  #subAck: (() => void) | null = null;

  constructor(opts: ClientOptions) {
    this.#ws = new WebSocket(opts.url, { perMessageDeflate: false, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const onPub = opts.onPub;
    this.#ws.on('message', (buf: Buffer) => {
      const msg = JSON.parse(buf.toString()) as { type: string; data?: ComparePayload };
      if (msg.type === 'pub') onPub?.(msg.data as ComparePayload);
      else if (msg.type === 'subok') {
        const ack = this.#subAck;
        this.#subAck = null;
        ack?.();
      }
    });
    this.#ws.on('error', () => {});
    this.ready = wsOpen(this.#ws);
  }

  subscribe(channel: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#subAck = resolve;
      this.#ws.once('close', () => reject(new Error('closed')));
      this.#ws.send(JSON.stringify({ type: 'sub', channel }));
    });
  }

  async publish(channel: string, data: ComparePayload): Promise<void> {
    this.#ws.send(JSON.stringify({ type: 'pub', channel, data }));
  }

  close(graceMs = 10_000): Promise<'closed' | 'forced'> {
    return wsClose(this.#ws, graceMs);
  }
}
