import { encodeFrames } from '@switchboard/protocol';
import { afterEach, beforeEach, vi } from 'vitest';
import { type ClientOptions, SwitchboardClient } from '../src/index.js';

export interface SentFrame {
  id?: number;
  method: string;
  params?: Record<string, unknown>;
}

type Listener = (event: never) => void;

/**
 * A WebSocket double: records what the client sends and lets the test play the server
 * (open, messages, close). Every instance is kept in `FakeSocket.all`.
 */
export class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  /** Raw messages sent by the client (a message may hold several frames). */
  readonly messages: string[] = [];
  closedByClient: { code?: number; reason?: string } | null = null;
  readonly #listeners = new Map<string, Listener[]>();

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  static last(): FakeSocket {
    const socket = FakeSocket.all.at(-1);
    if (socket === undefined) throw new Error('no socket was created');
    return socket;
  }

  static reset(): void {
    FakeSocket.all = [];
  }

  addEventListener(type: string, listener: Listener): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  /** Messages sent while closing or closed: a browser drops them and logs an error. */
  readonly sentAfterClose: string[] = [];

  send(data: string): void {
    if (this.readyState > 1) {
      this.sentAfterClose.push(data);
      return;
    }
    if (this.readyState !== 1) throw new Error(`send in readyState ${this.readyState}`);
    this.messages.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
    this.readyState = 3;
  }

  /** Every frame the client sent, in order. */
  get frames(): SentFrame[] {
    return this.messages.flatMap((m) => m.split('\n').map((line) => JSON.parse(line) as SentFrame));
  }

  commands(method: string): SentFrame[] {
    return this.frames.filter((f) => f.method === method);
  }

  lastCommand(method: string): SentFrame & { id: number } {
    const frame = this.commands(method).at(-1);
    if (frame === undefined || frame.id === undefined) throw new Error(`no ${method} command sent`);
    return frame as SentFrame & { id: number };
  }

  // --- the server's side ---

  open(): void {
    this.readyState = 1;
    this.#dispatch('open', { type: 'open' });
  }

  receive(...frames: object[]): void {
    this.#dispatch('message', { data: encodeFrames(frames) });
  }

  receiveRaw(data: unknown): void {
    this.#dispatch('message', { data });
  }

  reply(method: string, result: object): void {
    this.receive({ id: this.lastCommand(method).id, result });
  }

  replyError(method: string, error: { code: number; message: string; temporary: boolean }): void {
    this.receive({ id: this.lastCommand(method).id, error });
  }

  /** The server's close frame arrived: the socket is closing, its 'close' event comes later. */
  serverClosing(): void {
    this.readyState = 2;
  }

  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.#dispatch('close', { code, reason });
  }

  #dispatch(type: string, event: object): void {
    for (const listener of this.#listeners.get(type) ?? []) (listener as (e: object) => void)(event);
  }
}

export const CONNECT_RESULT = {
  client: 'c1',
  user: 'alice',
  tenant: 'acme',
  protocol: 1,
  ping: 25_000,
  pong: 10_000,
  node: 'n1',
};

export function createClient(options: ClientOptions = {}): SwitchboardClient {
  let n = 0;
  return new SwitchboardClient('ws://test.local/ws', {
    token: 't0',
    WebSocket: FakeSocket,
    // Never ask a real server why a fake socket failed.
    fetch: null,
    random: () => 0,
    createId: () => `key-${++n}`,
    ...options,
  });
}

/** Let promise callbacks run (fake timers do not advance). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Open the latest socket and accept its connect. */
export function acceptConnect(result: object = CONNECT_RESULT): FakeSocket {
  const socket = FakeSocket.last();
  socket.open();
  socket.reply('connect', result);
  return socket;
}

/** Record every event of an emitter as [name, payload]. */
export function record<E extends object>(
  source: { on<K extends keyof E>(event: K, listener: (payload: E[K]) => void): () => void },
  names: Array<keyof E>,
): Array<[keyof E, unknown]> {
  const log: Array<[keyof E, unknown]> = [];
  for (const name of names) source.on(name, (payload) => log.push([name, payload]));
  return log;
}

/** Fake timers and a fresh socket list for every test of the calling file. */
export function useFakes(): void {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.reset();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}
