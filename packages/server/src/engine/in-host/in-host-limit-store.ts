import type { LimitStore } from '../limit-store.js';
import type { InHostConnection } from './connection.js';
import { finite, infinite } from './wire.js';

/**
 * A worker's limits: counters and buckets on the host, so a user's connections are counted
 * once across workers. The host frees this worker's slots when its connection closes; the
 * worker keeps its own count, to take them again on a new connection to a host that lost them.
 */
export class InHostLimitStore implements LimitStore {
  readonly #conn: InHostConnection;
  readonly #slots = new Map<string, { tenant: string; user: string; count: number }>();

  constructor(conn: InHostConnection) {
    this.#conn = conn.retain();
    conn.onReconnected(async (first) => {
      if (first || this.#slots.size === 0) return;
      const slots = [...this.#slots.values()].map((s) => [s.tenant, s.user, s.count]);
      await conn.restoreRequest('restore', [{ channels: [], presence: [], slots }]);
    });
  }

  async acquireConnection(tenant: string, user: string, perUser: number, perTenant: number): Promise<'ok' | 'user' | 'tenant'> {
    const result = await this.#conn.request<'ok' | 'user' | 'tenant'>('limits.acquire', [tenant, user, finite(perUser), finite(perTenant)]);
    if (result === 'ok') {
      const key = JSON.stringify([tenant, user]);
      const held = this.#slots.get(key);
      if (held) held.count++;
      else this.#slots.set(key, { tenant, user, count: 1 });
    }
    return result;
  }

  async releaseConnection(tenant: string, user: string): Promise<void> {
    const key = JSON.stringify([tenant, user]);
    const held = this.#slots.get(key);
    if (held && --held.count === 0) this.#slots.delete(key);
    await this.#conn.request('limits.release', [tenant, user]);
  }

  tenantUsage(tenant: string): Promise<{ connections: number; users: number }> {
    return this.#conn.request('limits.usage', [tenant]);
  }

  take(key: string, ratePerSecond: number, burst: number, cost = 1): Promise<boolean> {
    return this.#conn.request('limits.take', [key, finite(ratePerSecond), finite(burst), cost]);
  }

  async takeOrWait(key: string, ratePerSecond: number, burst: number, cost = 1): Promise<number> {
    return infinite(await this.#conn.request('limits.takeOrWait', [key, finite(ratePerSecond), finite(burst), cost]));
  }

  async close(): Promise<void> {
    await this.#conn.release();
  }
}
