import type { LimitStore } from './limit-store.js';
import { TokenBucket } from './token-bucket.js';

/** One-process limits: counters and buckets in maps; full buckets are forgotten. */
export class MemoryLimitStore implements LimitStore {
  readonly #users = new Map<string, number>();
  readonly #tenants = new Map<string, number>();
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.#sweeper = setInterval(() => {
      for (const [key, bucket] of this.#buckets) if (bucket.full()) this.#buckets.delete(key);
    }, 30_000);
    this.#sweeper.unref();
  }

  async acquireConnection(tenant: string, user: string, perUser: number, perTenant: number): Promise<'ok' | 'user' | 'tenant'> {
    const userKey = `${tenant}|${user}`;
    const u = this.#users.get(userKey) ?? 0;
    const t = this.#tenants.get(tenant) ?? 0;
    if (u >= perUser) return 'user';
    if (t >= perTenant) return 'tenant';
    this.#users.set(userKey, u + 1);
    this.#tenants.set(tenant, t + 1);
    return 'ok';
  }

  async releaseConnection(tenant: string, user: string): Promise<void> {
    const userKey = `${tenant}|${user}`;
    const held = this.#users.get(userKey);
    if (held === undefined) return; // never acquired: nothing to release
    const u = held - 1;
    const t = (this.#tenants.get(tenant) ?? 1) - 1;
    if (u <= 0) this.#users.delete(userKey);
    else this.#users.set(userKey, u);
    if (t <= 0) this.#tenants.delete(tenant);
    else this.#tenants.set(tenant, t);
  }

  async tenantUsage(tenant: string): Promise<{ connections: number; users: number }> {
    let users = 0;
    const head = `${tenant}|`;
    for (const key of this.#users.keys()) if (key.startsWith(head)) users++;
    return { connections: this.#tenants.get(tenant) ?? 0, users };
  }

  async take(key: string, ratePerSecond: number, burst: number, cost = 1): Promise<boolean> {
    return this.takeNow(key, ratePerSecond, burst, cost) === 0;
  }

  async takeOrWait(key: string, ratePerSecond: number, burst: number, cost = 1): Promise<number> {
    return this.takeNow(key, ratePerSecond, burst, cost);
  }

  /** `takeOrWait`, answered at once (the memory broker checks a publish's bucket in the same step). */
  takeNow(key: string, ratePerSecond: number, burst: number, cost = 1): number {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(ratePerSecond, burst, this.now);
      this.#buckets.set(key, bucket);
    }
    return bucket.takeOrWait(cost);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }
}
