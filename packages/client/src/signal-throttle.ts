import type { Timers } from './timers.js';

interface KeyState {
  last: number;
  timer: unknown;
  pending: { data: unknown } | undefined;
}

/**
 * Per-key throttle with latest-value-wins: at most one send per key per interval;
 * values pushed in between replace each other and the last one is sent when the
 * interval ends. Nothing is kept across `clear()`.
 */
export class SignalThrottle {
  readonly #interval: number;
  readonly #timers: Timers;
  readonly #now: () => number;
  readonly #send: (key: string, data: unknown) => void;
  readonly #keys = new Map<string, KeyState>();

  constructor(intervalMs: number, timers: Timers, now: () => number, send: (key: string, data: unknown) => void) {
    this.#interval = intervalMs;
    this.#timers = timers;
    this.#now = now;
    this.#send = send;
  }

  push(key: string, data: unknown): void {
    let state = this.#keys.get(key);
    if (state === undefined) {
      state = { last: Number.NEGATIVE_INFINITY, timer: undefined, pending: undefined };
      this.#keys.set(key, state);
    }
    if (state.timer !== undefined) {
      state.pending = { data };
      return;
    }
    const wait = state.last + this.#interval - this.#now();
    if (wait <= 0) {
      state.last = this.#now();
      this.#send(key, data);
      return;
    }
    state.pending = { data };
    const current = state;
    state.timer = this.#timers.setTimeout(() => this.#fire(key, current), wait);
  }

  clear(): void {
    for (const state of this.#keys.values()) if (state.timer !== undefined) this.#timers.clearTimeout(state.timer);
    this.#keys.clear();
  }

  #fire(key: string, state: KeyState): void {
    state.timer = undefined;
    const pending = state.pending;
    state.pending = undefined;
    if (pending === undefined) return;
    state.last = this.#now();
    this.#send(key, pending.data);
  }
}
