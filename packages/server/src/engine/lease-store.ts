/**
 * Leases with fencing tokens: at most one owner holds a key at a time, until it releases
 * the key or stops renewing it for `ttlMs`. Each grant of a key carries a token larger than
 * every earlier grant's, so a store that a former holder writes to late can refuse it
 * (it presents a smaller token than the one it has seen). The base of locks, document
 * compaction and single-runner jobs.
 */

/** Who holds a key, with which token, and for how much longer (ms). */
export interface Lease {
  owner: string;
  token: number;
  ttlMs: number;
}

export interface LeaseStore {
  /**
   * Take `key` for `owner` for `ttlMs` (a positive integer): the grant's fencing token, or
   * null while another owner holds it — or while owners wait in its line (`queue`) and the
   * first of them is not `owner`. The owner that already holds it gets its token again with
   * the TTL set anew, so a retried acquire (its reply lost) is harmless.
   */
  acquire(key: string, ttlMs: number, owner: string): Promise<number | null>;
  /**
   * `acquire`, waiting in the key's line, first come first served across every node that
   * shares the store: refused, `owner` keeps (or takes, at the end) a place in the line until
   * `placeTtlMs` from now, and asking again sets that anew without losing the place. A free
   * key goes only to the first owner in line whose place has not lapsed; places that lapsed
   * (their node stopped asking) are dropped when they come first. Granted, the owner leaves
   * the line. `front` puts an owner not yet in line at its head (a steal: the next grant).
   */
  queue(key: string, ttlMs: number, owner: string, placeTtlMs: number, front?: boolean): Promise<number | null>;
  /** `owner` gives up its place in the key's line (none: nothing happens). */
  leave(key: string, owner: string): Promise<void>;
  /** Hold the lease `ttlMs` from now; false when `token` no longer holds the key (expired, released, taken). */
  renew(key: string, token: number, ttlMs: number): Promise<boolean>;
  /** Free the key; false when `token` no longer holds it. */
  release(key: string, token: number): Promise<boolean>;
  /** The current lease of a key, or null when it is free. */
  get(key: string): Promise<Lease | null>;
  close(): Promise<void>;
}

/** A TTL must be a positive whole number of milliseconds: a lease that never expires would outlive its owner. */
export function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new RangeError(`lease ttl must be a positive integer of ms, got ${ttlMs}`);
}
