import { type BackoffConfig, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.js';
import { ClientCode } from './codes.js';
import { SwitchboardError } from './errors.js';
import type { StreamBody } from './sse-socket.js';
import { globalTimers, type Timers } from './timers.js';
import type { WebSocketConstructor } from './websocket.js';

/** How the client talks to the server: a WebSocket, or the Server-Sent Events + POST fallback. */
export type TransportName = 'websocket' | 'sse';

/** Options of `new SwitchboardClient(url, options)`. Durations are in milliseconds. */
export interface ClientOptions {
  /** Token for `connect`. When absent, `getToken` is called before the first connect. */
  token?: string;
  /**
   * Returns a fresh token. Called for the first connect when there is no `token`, to
   * refresh before expiry, and before reconnecting after an expiry (close 3003) or an
   * invalid token on a session that had connected before. Throw a non-temporary
   * `SwitchboardError` to stop the client (state `disconnected`, code 8 unauthorized);
   * any other error is retried with backoff.
   */
  getToken?: () => Promise<string>;
  /** WebSocket class. Default `globalThis.WebSocket`; on Node 20 pass `WebSocket` from `ws`. */
  WebSocket?: WebSocketConstructor;
  /**
   * `fetch`, to ask the server why a WebSocket never opened (a browser cannot see the
   * upgrade's HTTP status). Default `globalThis.fetch`; `null` never asks.
   */
  fetch?: FetchLike | null;
  /** Timer functions. Default the global `setTimeout`/`clearTimeout`. */
  timers?: Timers;
  /** Clock in Unix ms, used with token expiry and heartbeats. Default `Date.now`. */
  now?: () => number;
  /** Random numbers in [0, 1) for backoff jitter. Default `Math.random`; `() => 0` disables jitter. */
  random?: () => number;
  /** Idempotency keys of publishes. Default `crypto.randomUUID`. */
  createId?: () => string;
  /** Reconnect backoff: `{minDelay = 250, maxDelay = 20000, factor = 2, shutdownJitter = 5000}`. */
  backoff?: BackoffOptions;
  /** Publishes made while not connected: `{maxSize = 100}`. */
  offlineQueue?: { maxSize?: number };
  /** Client name sent in `connect`, for server logs (e.g. "web"). */
  name?: string;
  /** Deadline for getting a token, opening the socket and the `connect` reply; 0 disables. Default 10000. */
  connectTimeout?: number;
  /** Deadline for each reply, and for calls waiting for their subscription; 0 disables. Default 10000. */
  commandTimeout?: number;
  /** Minimum interval between two signals with the same key on a channel. Default 50. */
  signalInterval?: number;
  /**
   * Transports to use, in order of preference. Default `['websocket', 'sse']`: WebSocket, and
   * Server-Sent Events + POST on the same server (`/ws/sse`) where WebSockets are blocked.
   * `['websocket']` opts out of the fallback; `['sse']` uses only the fallback.
   */
  transports?: readonly TransportName[];
  /** WebSocket attempts in a row that fail before `connected` before the fallback is tried. Default 2. */
  fallbackAfter?: number;
  /** While on the fallback, try a WebSocket this often and switch back when one opens; 0 never does. Default 60000. */
  upgradeInterval?: number;
}

export interface ResolvedOptions {
  readonly token: string | undefined;
  readonly getToken: (() => Promise<string>) | undefined;
  readonly WebSocket: WebSocketConstructor;
  readonly fetch: FetchLike | null;
  readonly timers: Timers;
  readonly now: () => number;
  readonly random: () => number;
  readonly createId: () => string;
  readonly backoff: BackoffConfig;
  readonly offlineQueueSize: number;
  readonly name: string | undefined;
  readonly connectTimeout: number;
  readonly commandTimeout: number;
  readonly signalInterval: number;
  readonly transports: readonly TransportName[];
  readonly fallbackAfter: number;
  readonly upgradeInterval: number;
}

/**
 * The part of `fetch` the client uses: a GET whose JSON says why a WebSocket was refused,
 * and for the fallback a streamed GET (`body`) and text POSTs.
 */
export type FetchLike = (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{ ok: boolean; status?: number; body?: StreamBody | null; json(): Promise<unknown> }>;

const TRANSPORTS: readonly TransportName[] = ['websocket', 'sse'];

/** Check `transports`; the fallback needs `fetch`, so without one it is left out. */
function transportsOf(value: readonly TransportName[] | undefined, fetch: FetchLike | null): readonly TransportName[] {
  const list = value ?? TRANSPORTS;
  if (!Array.isArray(list) || list.length === 0 || list.some((t) => !TRANSPORTS.includes(t)) || new Set(list).size !== list.length) {
    throw bad('transports must list "websocket" and/or "sse", once each');
  }
  const usable = fetch === null ? list.filter((t) => t !== 'sse') : list;
  if (usable.length === 0) throw bad('the "sse" transport needs fetch');
  return Object.freeze([...usable]);
}

/** Stands in for a missing WebSocket class when only the fallback is used. */
class NoWebSocket {
  constructor() {
    throw bad('no WebSocket implementation');
  }
}

function defaultFetch(): FetchLike | null {
  const f = (globalThis as { fetch?: FetchLike }).fetch;
  // Called as a method of the global: a browser's fetch throws "Illegal invocation" otherwise.
  return typeof f === 'function' ? (url, init) => f.call(globalThis, url, init) : null;
}

function bad(detail: string): SwitchboardError {
  return SwitchboardError.of(ClientCode.BadConfiguration, detail);
}

function duration(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw bad(`${name} must be a number >= 0`);
  return value;
}

function defaultCreateId(): () => string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  const uuid = crypto?.randomUUID;
  if (typeof uuid === 'function') return () => uuid.call(crypto);
  let counter = 0;
  return () => `${Date.now().toString(36)}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** Check the options once, at construction, and fill in defaults. */
export function resolveOptions(url: string, options: ClientOptions): ResolvedOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad(`url is not a valid URL: ${String(url)}`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw bad('url must start with ws:// or wss://');
  const fetch = options.fetch === undefined ? defaultFetch() : options.fetch;
  const transports = transportsOf(options.transports, fetch);
  const WebSocket =
    options.WebSocket ??
    (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ??
    (transports.includes('websocket') ? undefined : (NoWebSocket as unknown as WebSocketConstructor));
  if (typeof WebSocket !== 'function') {
    throw bad('no WebSocket implementation: pass options.WebSocket (on Node 20: `import WebSocket from "ws"`)');
  }
  if (options.token !== undefined && typeof options.token !== 'string') throw bad('token must be a string');
  if (options.getToken !== undefined && typeof options.getToken !== 'function') throw bad('getToken must be a function');
  const backoff: BackoffConfig = Object.freeze({
    minDelay: duration('backoff.minDelay', options.backoff?.minDelay, DEFAULT_BACKOFF.minDelay),
    maxDelay: duration('backoff.maxDelay', options.backoff?.maxDelay, DEFAULT_BACKOFF.maxDelay),
    factor: duration('backoff.factor', options.backoff?.factor, DEFAULT_BACKOFF.factor),
    shutdownJitter: duration('backoff.shutdownJitter', options.backoff?.shutdownJitter, DEFAULT_BACKOFF.shutdownJitter),
  });
  if (backoff.maxDelay < backoff.minDelay) throw bad('backoff.maxDelay must be >= backoff.minDelay');
  if (backoff.factor < 1) throw bad('backoff.factor must be >= 1');
  const offlineQueueSize = duration('offlineQueue.maxSize', options.offlineQueue?.maxSize, 100);
  if (!Number.isInteger(offlineQueueSize)) throw bad('offlineQueue.maxSize must be an integer');
  return Object.freeze({
    token: options.token,
    getToken: options.getToken,
    WebSocket,
    fetch,
    timers: options.timers ?? globalTimers,
    now: options.now ?? (() => Date.now()),
    random: options.random ?? Math.random,
    createId: options.createId ?? defaultCreateId(),
    backoff,
    offlineQueueSize,
    name: options.name,
    connectTimeout: duration('connectTimeout', options.connectTimeout, 10_000),
    commandTimeout: duration('commandTimeout', options.commandTimeout, 10_000),
    signalInterval: duration('signalInterval', options.signalInterval, 50),
    transports,
    fallbackAfter: Math.max(1, Math.floor(duration('fallbackAfter', options.fallbackAfter, 2))),
    upgradeInterval: duration('upgradeInterval', options.upgradeInterval, 60_000),
  });
}
