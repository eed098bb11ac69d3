import { TokenBucket } from '../../engine/token-bucket.js';

/** Buckets kept before full (idle) ones are forgotten. */
const PRUNE_AT = 10_000;

/**
 * A rate per (tenant, user) on this node: `ratePerSecond` with a burst of the same size
 * (0: no limit). Buckets of idle users are forgotten once many are held.
 */
export class UserRate {
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly now: () => number,
  ) {}

  take(tenant: string, user: string): boolean {
    if (this.ratePerSecond === 0) return true;
    const key = `${tenant}|${user}`;
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= PRUNE_AT) this.#prune();
      bucket = new TokenBucket(this.ratePerSecond, Math.max(1, this.ratePerSecond), this.now);
      this.#buckets.set(key, bucket);
    }
    return bucket.take();
  }

  #prune(): void {
    for (const [key, bucket] of this.#buckets) if (bucket.full()) this.#buckets.delete(key);
  }
}
