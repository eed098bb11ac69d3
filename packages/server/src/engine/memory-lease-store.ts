import { checkTtl, type Lease, type LeaseStore } from './lease-store.js';

interface Held {
  owner: string;
  token: number;
  /** `now()` at which the lease lapses. */
  expires: number;
}

/** Expired leases and lapsed places nobody asks about are dropped every this many grants and waits. */
const SWEEP_EVERY = 256;

/** Wall-clock microseconds with the monotonic clock's sub-millisecond part. */
const wallMicros = (): number => (performance.timeOrigin + performance.now()) * 1000;

/**
 * One-process leases. Tokens come from one counter for every key that never falls behind
 * the clock in microseconds, so they keep increasing across restarts of the process too (as
 * long as its clock does not go back, and grants stay below one per microsecond on average).
 * A key's line is a map of waiting owners to when their places lapse, in arrival order.
 */
export class MemoryLeaseStore implements LeaseStore {
  readonly #leases = new Map<string, Held>();
  readonly #lines = new Map<string, Map<string, number>>();
  #last = 0;
  #grants = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async acquire(key: string, ttlMs: number, owner: string): Promise<number | null> {
    checkTtl(ttlMs);
    return this.#take(key, ttlMs, owner, 0);
  }

  async queue(key: string, ttlMs: number, owner: string, placeTtlMs: number, front = false): Promise<number | null> {
    checkTtl(ttlMs);
    checkTtl(placeTtlMs);
    return this.#take(key, ttlMs, owner, placeTtlMs, front);
  }

  async leave(key: string, owner: string): Promise<void> {
    const line = this.#lines.get(key);
    if (line?.delete(owner) && line.size === 0) this.#lines.delete(key);
  }

  #take(key: string, ttlMs: number, owner: string, placeTtlMs: number, front = false): number | null {
    const held = this.#live(key);
    if (front && held?.owner !== owner) this.#toFront(key, owner, placeTtlMs);
    if (held) {
      if (held.owner !== owner) return this.#wait(key, owner, placeTtlMs);
      held.expires = this.now() + ttlMs;
      void this.leave(key, owner);
      return held.token;
    }
    const first = this.#first(key);
    if (first !== undefined && first !== owner) return this.#wait(key, owner, placeTtlMs);
    void this.leave(key, owner);
    const token = Math.max(this.#last + 1, Math.floor(this.now() * 1000), Math.floor(wallMicros()));
    this.#last = token;
    this.#leases.set(key, { owner, token, expires: this.now() + ttlMs });
    if (++this.#grants % SWEEP_EVERY === 0) this.#sweep();
    return token;
  }

  async renew(key: string, token: number, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    const held = this.#live(key);
    if (held?.token !== token) return false;
    held.expires = this.now() + ttlMs;
    return true;
  }

  async release(key: string, token: number): Promise<boolean> {
    if (this.#live(key)?.token !== token) return false;
    this.#leases.delete(key);
    return true;
  }

  async get(key: string): Promise<Lease | null> {
    const held = this.#live(key);
    return held ? { owner: held.owner, token: held.token, ttlMs: held.expires - this.now() } : null;
  }

  async close(): Promise<void> {
    this.#leases.clear();
    this.#lines.clear();
  }

  /** Keep (or take, at the end) `owner`'s place in the key's line for `placeTtlMs`; refused either way. */
  #wait(key: string, owner: string, placeTtlMs: number): null {
    if (placeTtlMs <= 0) return null;
    let line = this.#lines.get(key);
    if (!line) {
      line = new Map();
      this.#lines.set(key, line);
    }
    const now = this.now();
    const lapses = line.get(owner);
    // A place that lapsed is lost: the owner queues again at the end.
    if (lapses !== undefined && lapses <= now) line.delete(owner);
    line.set(owner, now + placeTtlMs);
    if (++this.#grants % SWEEP_EVERY === 0) this.#sweep();
    return null;
  }

  /**
   * Put `owner` first in the key's line with a place alive for `placeTtlMs` (the `#wait` that
   * follows reads the clock again: a place alive for only the current millisecond would lapse
   * there when the clock ticks in between, and be queued again at the end).
   */
  #toFront(key: string, owner: string, placeTtlMs: number): void {
    const lapses = this.now() + Math.max(placeTtlMs, 1);
    const line = this.#lines.get(key);
    if (line?.keys().next().value === owner) {
      // Already first, perhaps with a place that lapsed: alive again, still first.
      line.set(owner, lapses);
      return;
    }
    const next = new Map<string, number>([[owner, lapses]]);
    for (const [o, lapses] of line ?? []) if (o !== owner) next.set(o, lapses);
    this.#lines.set(key, next);
  }

  /** The first owner in the key's line whose place has not lapsed, dropping the lapsed ones before it. */
  #first(key: string): string | undefined {
    const line = this.#lines.get(key);
    if (!line) return undefined;
    const now = this.now();
    for (const [owner, lapses] of line) {
      if (lapses > now) return owner;
      line.delete(owner);
    }
    this.#lines.delete(key);
    return undefined;
  }

  #live(key: string): Held | undefined {
    const held = this.#leases.get(key);
    if (held && held.expires <= this.now()) {
      this.#leases.delete(key);
      return undefined;
    }
    return held;
  }

  #sweep(): void {
    const now = this.now();
    for (const [key, held] of this.#leases) if (held.expires <= now) this.#leases.delete(key);
    for (const [key, line] of this.#lines) {
      for (const [owner, lapses] of line) if (lapses <= now) line.delete(owner);
      if (line.size === 0) this.#lines.delete(key);
    }
  }
}
