import { checkTtl, type Lease, type LeaseStore } from './lease-store.js';

interface Held {
  owner: string;
  token: number;
  /** `now()` at which the lease lapses. */
  expires: number;
}

/** Expired leases nobody asks about are dropped every this many grants. */
const SWEEP_EVERY = 256;

/** Wall-clock microseconds with the monotonic clock's sub-millisecond part. */
const wallMicros = (): number => (performance.timeOrigin + performance.now()) * 1000;

/**
 * One-process leases. Tokens come from one counter for every key that never falls behind
 * the clock in microseconds, so they keep increasing across restarts of the process too (as
 * long as its clock does not go back, and grants stay below one per microsecond on average).
 */
export class MemoryLeaseStore implements LeaseStore {
  readonly #leases = new Map<string, Held>();
  #last = 0;
  #grants = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async acquire(key: string, ttlMs: number, owner: string): Promise<number | null> {
    checkTtl(ttlMs);
    const held = this.#live(key);
    if (held) {
      if (held.owner !== owner) return null;
      held.expires = this.now() + ttlMs;
      return held.token;
    }
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
  }
}
