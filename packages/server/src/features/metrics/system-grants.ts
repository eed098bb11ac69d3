import { createHash, randomBytes } from 'node:crypto';
import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import type { FeatureLeases } from '../scoped-engine.js';

/** Longest grant accepted (a grant is `sg_` and 43 characters). */
const MAX_GRANT_LENGTH = 128;

const leaseKey = (grant: string): string => `system-grant:${createHash('sha256').update(grant).digest('hex')}`;

/**
 * Grants to subscribe to the system scope (`metrics.subscribe` with `scope: "system"`): a random
 * bearer string an admin key mints (`POST /api/v1/metrics/system/grants`), held as a lease
 * under its SHA-256 (the grant itself is stored nowhere) for `metrics.systemGrantTtl`, so every
 * node of a cluster accepts it until the lease expires. No token claim grants the system
 * scope: an app backend that mints tokens cannot reach it, only the admin key can.
 */
export class SystemGrants {
  readonly #leases: FeatureLeases;
  readonly #ttl: () => number;
  readonly #now: () => number;

  constructor(leases: FeatureLeases, ttl: () => number, now: () => number) {
    this.#leases = leases;
    this.#ttl = ttl;
    this.#now = now;
  }

  /** A new grant for `owner` (what the lease names), and when it stops opening subscriptions. */
  async mint(owner: string): Promise<{ grant: string; expiresAt: number }> {
    const grant = `sg_${randomBytes(32).toString('base64url')}`;
    const ttl = Math.max(1000, Math.round(this.#ttl()));
    const at = this.#now();
    if ((await this.#leases.acquire(leaseKey(grant), ttl, owner)) === null) throw new ReplyError(ErrorCode.Unavailable, 'system grant');
    return { grant, expiresAt: at + ttl };
  }

  /** Whether `grant` was minted and has not expired; 103 otherwise (the same answer for a wrong, expired or missing grant). */
  async check(grant: unknown): Promise<void> {
    const ok = typeof grant === 'string' && grant.length <= MAX_GRANT_LENGTH && (await this.#leases.get(leaseKey(grant))) !== null;
    if (!ok) throw new ReplyError(ErrorCode.PermissionDenied, 'scope system needs a valid grant (POST /api/v1/metrics/system/grants with an admin key)');
  }
}
