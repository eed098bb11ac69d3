/**
 * A token bucket: `burst` tokens at most, refilled continuously at `ratePerSecond`.
 * The clock is injectable so tests need no sleeps.
 */
export class TokenBucket {
  #tokens: number;
  #updated: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#tokens = burst;
    this.#updated = now();
  }

  /** Take `cost` tokens if available. */
  take(cost = 1): boolean {
    this.#refill();
    if (this.#tokens < cost) return false;
    this.#tokens -= cost;
    return true;
  }

  /** True when the bucket is full (nothing to remember about this key). */
  full(): boolean {
    this.#refill();
    return this.#tokens >= this.burst;
  }

  #refill(): void {
    const now = this.now();
    const elapsed = now - this.#updated;
    if (elapsed <= 0) return;
    this.#updated = now;
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed / 1000) * this.ratePerSecond);
  }
}
