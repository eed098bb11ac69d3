import type { LimitStore } from '../limit-store.js';
import { TokenBucket } from '../token-bucket.js';
import type { RedisConnection } from './connection.js';
import type { NodeRegistry } from './node-registry.js';
import { acquireScript, reconcileScript, releaseScript, takeScript } from './scripts.js';

/**
 * Connection slots and token buckets shared by every node. Slots are counters per tenant
 * and user, plus a per-node hash of what each node holds, so the slots of a node that died
 * are released by a survivor, and a node can put Redis back in line with what it really
 * holds after an error. Buckets are Lua scripts on Redis time; while Redis is away they
 * fall back to per-node buckets, so rate limits keep holding (per node) during an outage.
 */
export class RedisLimitStore implements LimitStore {
  readonly #conn: RedisConnection;
  /** tenant -> user -> slots this node holds. */
  readonly #held = new Map<string, Map<string, number>>();
  /** Tenants whose Redis counters may disagree with `#held` (an operation failed). */
  readonly #dirty = new Set<string>();
  /** Operations in flight per tenant: a tenant is reconciled only when it has none. */
  readonly #inflight = new Map<string, number>();
  /** Tenants already listed in this node's index. */
  readonly #indexed = new Set<string>();
  readonly #local = new Map<string, TokenBucket>();
  readonly #sweeper: NodeJS.Timeout;
  #fallbackLogged = false;

  constructor(conn: RedisConnection, registry: NodeRegistry) {
    this.#conn = conn.retain();
    registry.addHooks({
      sweep: (dead) => this.#sweep(dead),
      restore: async () => {
        this.#indexed.clear();
        for (const tenant of this.#held.keys()) this.#dirty.add(tenant);
        this.#reconcileDirty();
      },
      beat: () => {
        this.#fallbackLogged = false;
        this.#reconcileDirty();
      },
    });
    this.#sweeper = setInterval(() => {
      for (const [key, bucket] of this.#local) if (bucket.full()) this.#local.delete(key);
    }, 30_000);
    this.#sweeper.unref();
  }

  async acquireConnection(tenant: string, user: string, perUser: number, perTenant: number): Promise<'ok' | 'user' | 'tenant'> {
    const result = (await this.#op(tenant, () => acquireScript.run(this.#conn.cmd, this.#keys(tenant), [user, perUser, perTenant]))) as
      | 'ok'
      | 'user'
      | 'tenant';
    if (result === 'ok') this.#adjust(tenant, user, 1);
    return result;
  }

  async releaseConnection(tenant: string, user: string): Promise<void> {
    if ((this.#held.get(tenant)?.get(user) ?? 0) <= 0) return; // never acquired here: nothing to release
    this.#adjust(tenant, user, -1);
    // A failed release marks the tenant dirty; the reconcile after the next heartbeat frees the slot.
    await this.#op(tenant, () => releaseScript.run(this.#conn.cmd, this.#keys(tenant), [user])).catch(() => {});
  }

  async tenantUsage(tenant: string): Promise<{ connections: number; users: number }> {
    const { cmd, keys } = this.#conn;
    const [connections, users] = await Promise.all([
      this.#conn.track(cmd.get(keys.tenantConnections(tenant))),
      this.#conn.track(cmd.hlen(keys.userConnections(tenant))),
    ]);
    return { connections: Number(connections ?? 0), users: Number(users) };
  }

  async take(key: string, ratePerSecond: number, burst: number, cost = 1): Promise<boolean> {
    return (await this.takeOrWait(key, ratePerSecond, burst, cost)) === 0;
  }

  async takeOrWait(key: string, ratePerSecond: number, burst: number, cost = 1): Promise<number> {
    if (this.#conn.ready()) {
      try {
        const [wait] = (await this.#conn.track(
          takeScript.run(this.#conn.cmd, [this.#conn.keys.bucket(key)], [ratePerSecond, burst, cost, this.#conn.clock.arg()]),
        )) as [number, string?];
        return wait;
      } catch (err) {
        if (!this.#fallbackLogged) this.#conn.logger?.warn({ err }, 'redis token bucket failed; using per-node buckets');
        this.#fallbackLogged = true;
      }
    }
    let bucket = this.#local.get(key);
    if (!bucket) {
      bucket = new TokenBucket(ratePerSecond, burst);
      this.#local.set(key, bucket);
    }
    return bucket.takeOrWait(cost);
  }

  /** Release every slot this node holds, then let go of Redis. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    await this.#conn.settle();
    const tenants = [...this.#held.keys()];
    this.#held.clear();
    if (this.#conn.ready()) await Promise.allSettled(tenants.map((t) => this.#reconcile(t)));
    await this.#conn.release();
  }

  #keys(tenant: string, node = this.#conn.nodeId): string[] {
    const { keys } = this.#conn;
    return [keys.tenantConnections(tenant), keys.userConnections(tenant), keys.nodeConnections(tenant, node)];
  }

  async #op<T>(tenant: string, run: () => Promise<T>): Promise<T> {
    const { cmd, keys, nodeId } = this.#conn;
    // Index the tenant before the first slot, so a survivor of this node always finds it.
    if (!this.#indexed.has(tenant)) {
      this.#indexed.add(tenant);
      cmd.sadd(keys.nodeTenants(nodeId), tenant).catch(() => this.#indexed.delete(tenant));
    }
    this.#inflight.set(tenant, (this.#inflight.get(tenant) ?? 0) + 1);
    try {
      return await this.#conn.track(run());
    } catch (err) {
      // The script may or may not have run: reconcile this tenant once things settle.
      this.#dirty.add(tenant);
      throw err;
    } finally {
      const n = (this.#inflight.get(tenant) ?? 1) - 1;
      if (n > 0) this.#inflight.set(tenant, n);
      else this.#inflight.delete(tenant);
    }
  }

  #adjust(tenant: string, user: string, d: number): void {
    let users = this.#held.get(tenant);
    if (!users) {
      users = new Map();
      this.#held.set(tenant, users);
    }
    const n = (users.get(user) ?? 0) + d;
    if (n > 0) users.set(user, n);
    else users.delete(user);
    if (users.size === 0) this.#held.delete(tenant);
  }

  #reconcileDirty(): void {
    if (!this.#conn.ready()) return;
    for (const tenant of this.#dirty) {
      if (this.#inflight.has(tenant)) continue;
      this.#dirty.delete(tenant);
      this.#reconcile(tenant).catch(() => this.#dirty.add(tenant));
    }
  }

  /** Make Redis hold exactly the slots this node holds in a tenant. */
  async #reconcile(tenant: string): Promise<void> {
    const want = [...(this.#held.get(tenant) ?? [])].flat();
    if (want.length > 0 && !this.#indexed.has(tenant)) {
      this.#indexed.add(tenant);
      await this.#conn.track(this.#conn.cmd.sadd(this.#conn.keys.nodeTenants(this.#conn.nodeId), tenant));
    }
    await this.#conn.track(reconcileScript.run(this.#conn.cmd, this.#keys(tenant), want));
  }

  /** A survivor's part of sweeping a dead node: release every slot it held. */
  async #sweep(dead: string): Promise<void> {
    const { cmd, keys, logger } = this.#conn;
    const tenants = await this.#conn.track(cmd.smembers(keys.nodeTenants(dead)));
    await Promise.all(tenants.map((t) => this.#conn.track(reconcileScript.run(cmd, this.#keys(t, dead), []))));
    if (tenants.length > 0) logger?.info({ dead, tenants: tenants.length }, 'released connection slots of a dead node');
  }
}
