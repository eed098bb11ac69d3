import { checkTtl, type Lease, type LeaseStore } from '../lease-store.js';
import type { InHostConnection } from './connection.js';

/** A worker's leases: held on the host, one store for every worker, tokens from its one counter. */
export class InHostLeaseStore implements LeaseStore {
  readonly #conn: InHostConnection;

  constructor(conn: InHostConnection) {
    this.#conn = conn.retain();
  }

  async acquire(key: string, ttlMs: number, owner: string): Promise<number | null> {
    checkTtl(ttlMs);
    return this.#conn.request('lease.acquire', [key, ttlMs, owner]);
  }

  async queue(key: string, ttlMs: number, owner: string, placeTtlMs: number, front = false): Promise<number | null> {
    checkTtl(ttlMs);
    checkTtl(placeTtlMs);
    return this.#conn.request('lease.queue', [key, ttlMs, owner, placeTtlMs, front]);
  }

  leave(key: string, owner: string): Promise<void> {
    return this.#conn.request('lease.leave', [key, owner]);
  }

  async renew(key: string, token: number, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    return this.#conn.request('lease.renew', [key, token, ttlMs]);
  }

  release(key: string, token: number): Promise<boolean> {
    return this.#conn.request('lease.release', [key, token]);
  }

  get(key: string): Promise<Lease | null> {
    return this.#conn.request('lease.get', [key]);
  }

  async close(): Promise<void> {
    await this.#conn.release();
  }
}
