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

  /** Take `cost` tokens if available (0), else the milliseconds until they will be (at least 1). */
  takeOrWait(cost = 1): number {
    this.#refill();
    if (this.#tokens >= cost) {
      this.#tokens -= cost;
      return 0;
    }
    if (cost > this.burst) return Number.POSITIVE_INFINITY;
    return Math.max(1, Math.ceil(((cost - this.#tokens) / this.ratePerSecond) * 1000));
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
