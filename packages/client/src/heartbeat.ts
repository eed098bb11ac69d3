import { TimerSlot, type Timers } from './timers.js';

/**
 * Detects a dead connection: the server pings every `ping` ms, so when nothing at all
 * arrived for ping + pong ms the connection is gone. One timer per connection,
 * re-armed only when it fires, not on every message.
 */
export class Heartbeat {
  readonly #slot: TimerSlot;
  readonly #now: () => number;
  readonly #onDead: () => void;
  #limit = 0;
  #lastSeen = 0;

  constructor(timers: Timers, now: () => number, onDead: () => void) {
    this.#slot = new TimerSlot(timers);
    this.#now = now;
    this.#onDead = onDead;
  }

  /** Start watching; `limitMs` <= 0 disables the check (server without pings). */
  start(limitMs: number): void {
    this.#limit = limitMs;
    this.#lastSeen = this.#now();
    if (limitMs > 0) this.#slot.set(limitMs, this.#check);
  }

  /** Something arrived from the server. */
  touch(): void {
    this.#lastSeen = this.#now();
  }

  stop(): void {
    this.#slot.clear();
  }

  readonly #check = (): void => {
    const elapsed = this.#now() - this.#lastSeen;
    if (elapsed >= this.#limit) this.#onDead();
    else this.#slot.set(this.#limit - elapsed, this.#check);
  };
}
