import { checkTtl, type Lease, type LeaseStore } from '../lease-store.js';
import type { RedisConnection } from './connection.js';
import { leaseAcquireScript, leaseGetScript, leaseLeaveScript, leaseReleaseScript, leaseRenewScript } from './lease-scripts.js';

/**
 * Leases in Redis: one hash per key (owner, token) that expires with the lease, beside the
 * key's line of waiting owners (a sorted set by arrival and a hash of their places'
 * deadlines, in the lease's slot), each operation one script. Fencing tokens are Redis time in microseconds, raised above the
 * highest token this node has seen (see leaseAcquireScript), so they strictly increase per
 * key also across a Redis restart that lost every key.
 */
export class RedisLeaseStore implements LeaseStore {
  /** The highest token this node has seen, for any key. */
  #highWater = 0;

  constructor(private readonly conn: RedisConnection) {
    conn.retain();
  }

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
    const { cmd, keys } = this.conn;
    await this.conn.track(leaseLeaveScript.run(cmd, keys.leaseLine(key), [owner]));
  }

  async #take(key: string, ttlMs: number, owner: string, placeTtlMs: number, front = false): Promise<number | null> {
    const { cmd, keys } = this.conn;
    const token = (await this.conn.track(
      leaseAcquireScript.run(cmd, [keys.lease(key), ...keys.leaseLine(key)], [owner, ttlMs, this.#highWater, placeTtlMs, front ? '1' : '0']),
    )) as number | null;
    return token === null ? null : this.#seen(token);
  }

  async renew(key: string, token: number, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    const { cmd, keys } = this.conn;
    return (await this.conn.track(leaseRenewScript.run(cmd, [keys.lease(key)], [String(token), ttlMs]))) === 1;
  }

  async release(key: string, token: number): Promise<boolean> {
    const { cmd, keys } = this.conn;
    return (await this.conn.track(leaseReleaseScript.run(cmd, [keys.lease(key)], [String(token)]))) === 1;
  }

  async get(key: string): Promise<Lease | null> {
    const { cmd, keys } = this.conn;
    const held = (await this.conn.track(leaseGetScript.run(cmd, [keys.lease(key)], []))) as [string, number, number] | null;
    if (held === null) return null;
    return { owner: held[0], token: this.#seen(held[1]), ttlMs: held[2] };
  }

  async close(): Promise<void> {
    await this.conn.release();
  }

  #seen(token: number): number {
    if (token > this.#highWater) this.#highWater = token;
    return token;
  }
}
