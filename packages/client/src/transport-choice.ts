import { ClientCode } from './codes.js';
import type { ResolvedOptions, TransportName } from './options.js';
import { type StreamFetch, sseSocketClass } from './sse-socket.js';
import { TimerSlot } from './timers.js';
import type { WebSocketConstructor, WebSocketLike } from './websocket.js';

/** At most 2^5 = 32 × upgradeInterval between probes after upgrades that did not hold. */
const MAX_UPGRADE_DOUBLINGS = 5;

/** Close codes that say the transport itself failed (as opposed to the server closing it). */
const TRANSPORT_FAILURES: ReadonlySet<number> = new Set([1006, ClientCode.TransportClosed.code, ClientCode.ConnectTimeout.code]);

/**
 * Which transport the next attempt uses, and the watch for the way back: after
 * `fallbackAfter` WebSocket attempts in a row fail before `connected`, the next attempts use
 * the fallback; while connected over it, a WebSocket is tried every `upgradeInterval` ms and,
 * once one opens, the client reconnects over WebSocket (recovering its subscriptions). When
 * such a switch fails before `connected` (a proxy that lets the upgrade through but not the
 * traffic), the interval doubles, up to 32 ×, until a WebSocket connects. When the fallback
 * failed too in the same run of failures (the server or the network was down, which says
 * nothing about WebSockets), the first probe goes out at once instead.
 */
export class TransportChoice {
  readonly #options: ResolvedOptions;
  readonly #sse: WebSocketConstructor | null;
  readonly #watch: TimerSlot;
  #probe: WebSocketLike | null = null;
  #wsFailures = 0;
  /** Switched to WebSocket by a probe, not yet connected over it. */
  #upgrading = false;
  /** Upgrades that fell back again in a row: each doubles the wait before the next probe. */
  #failedUpgrades = 0;
  /** The fallback failed as well since the last connection: an outage, not a WebSocket-hostile network. */
  #outage = false;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#sse = options.transports.includes('sse') && options.fetch ? sseSocketClass(options.fetch as StreamFetch) : null;
    this.#watch = new TimerSlot(options.timers);
  }

  /** The transport of the next attempt. */
  next(): TransportName {
    const { transports, fallbackAfter } = this.#options;
    if (this.#sse === null) return 'websocket';
    if (!transports.includes('websocket')) return 'sse';
    return this.#wsFailures >= fallbackAfter ? 'sse' : 'websocket';
  }

  /** The socket class of a transport. */
  socketClass(name: TransportName): WebSocketConstructor {
    return name === 'sse' && this.#sse !== null ? this.#sse : this.#options.WebSocket;
  }

  /** An attempt over `name` ended (`connected`: it had reached the connected state). */
  ended(name: TransportName, connected: boolean, code: number): void {
    if (connected || !TRANSPORT_FAILURES.has(code)) {
      if (name === 'websocket') this.#wsFailures = 0;
      return;
    }
    // A WebSocket that opens but carries nothing (some proxies): do not flap every interval.
    if (name === 'websocket' && this.#upgrading) {
      this.#upgrading = false;
      this.#failedUpgrades = Math.min(this.#failedUpgrades + 1, MAX_UPGRADE_DOUBLINGS);
    }
    // The fallback failing too means the network, not the WebSocket: try WebSocket again first.
    if (name === 'sse') this.#outage = true;
    this.#wsFailures = name === 'websocket' ? this.#wsFailures + 1 : 0;
  }

  /** Connected over `name`: over the fallback, start looking for a working WebSocket. */
  connected(name: TransportName, url: string, upgrade: () => void): void {
    const outage = this.#outage;
    this.#outage = false;
    if (name === 'websocket') {
      this.#wsFailures = 0;
      this.#upgrading = false;
      this.#failedUpgrades = 0;
      return;
    }
    if (!this.#options.transports.includes('websocket') || this.#options.upgradeInterval <= 0) return;
    // Back from an outage over the fallback only by the luck of the turn: look for WebSocket now.
    this.#watch.set(outage ? 0 : this.#upgradeDelay(), () => this.#tryWebSocket(url, upgrade));
  }

  #upgradeDelay(): number {
    return this.#options.upgradeInterval * 2 ** this.#failedUpgrades;
  }

  /** Stop looking (the connection is gone). */
  stop(): void {
    this.#watch.clear();
    const probe = this.#probe;
    this.#probe = null;
    try {
      probe?.close(1000, 'probe');
    } catch {
      // Never opened; nothing to close.
    }
  }

  /** Open a WebSocket and close it at once: if it opened, WebSockets get through again. */
  #tryWebSocket(url: string, upgrade: () => void): void {
    let probe: WebSocketLike;
    try {
      probe = new this.#options.WebSocket(url);
    } catch {
      return;
    }
    this.#probe = probe;
    let opened = false;
    probe.addEventListener('open', () => {
      if (this.#probe !== probe) return;
      opened = true;
      this.stop();
      this.#wsFailures = 0;
      this.#upgrading = true;
      upgrade();
    });
    probe.addEventListener('error', () => {});
    probe.addEventListener('close', () => {
      if (this.#probe !== probe || opened) return;
      this.#probe = null;
      this.#watch.set(this.#upgradeDelay(), () => this.#tryWebSocket(url, upgrade));
    });
  }
}
