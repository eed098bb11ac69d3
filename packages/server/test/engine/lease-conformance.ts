/**
 * Conformance suite for LeaseStore (memory, Redis): one holder per key, idempotent acquire
 * by the holder, renew and release only with the current token, expiry after the TTL, and
 * fencing tokens that strictly increase per key. Expiry is awaited with vi.waitFor on short
 * TTLs, never a fixed sleep.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LeaseStore } from '../../src/engine/lease-store.js';

export type LeaseStoreFactory = () => Promise<{
  leases: LeaseStore;
  cleanup(): Promise<void>;
  /**
   * The store comes back empty (a restart without persistence: every lease is gone) and a
   * new instance of it opens, as a restarted node would; `cleanup` then closes that one.
   */
  restart(): Promise<LeaseStore>;
}>;

const WAIT = { timeout: 5_000, interval: 10 };
const RUN = randomBytes(4).toString('hex');
let seq = 0;
const freshKey = (name = 'k') => `t${RUN}|${name}:${++seq}`;

export function describeLeaseStoreConformance(name: string, make: LeaseStoreFactory): void {
  describe(`LeaseStore conformance: ${name}`, () => {
    let leases: LeaseStore;
    let cleanup: () => Promise<void>;
    let restart: () => Promise<LeaseStore>;

    beforeEach(async () => {
      ({ leases, cleanup, restart } = await make());
    });

    afterEach(async () => {
      await cleanup();
    });

    it('grants a free key with a positive integer token and refuses another owner with null', async () => {
      const key = freshKey();
      const token = await leases.acquire(key, 10_000, 'alice');
      expect(Number.isSafeInteger(token)).toBe(true);
      expect(token).toBeGreaterThan(0);
      expect(await leases.acquire(key, 10_000, 'bob')).toBeNull();
      expect(await leases.get(key)).toMatchObject({ owner: 'alice', token });
    });

    it('gives the holder its token again on a repeated acquire, with the TTL set anew', async () => {
      const key = freshKey();
      const token = await leases.acquire(key, 1_000, 'alice');
      expect(await leases.acquire(key, 60_000, 'alice')).toBe(token);
      expect((await leases.get(key))?.ttlMs).toBeGreaterThan(1_000);
    });

    it('reports a free key as null and a held one with its remaining TTL', async () => {
      const key = freshKey();
      expect(await leases.get(key)).toBeNull();
      await leases.acquire(key, 30_000, 'alice');
      const lease = await leases.get(key);
      expect(lease?.ttlMs).toBeGreaterThan(0);
      expect(lease?.ttlMs).toBeLessThanOrEqual(30_000);
    });

    it('releases with the current token only; then another owner gets a larger token', async () => {
      const key = freshKey();
      const first = (await leases.acquire(key, 10_000, 'alice')) as number;
      expect(await leases.release(key, first + 1)).toBe(false);
      expect(await leases.release(key, first - 1)).toBe(false);
      expect(await leases.get(key)).toMatchObject({ owner: 'alice' });
      expect(await leases.release(key, first)).toBe(true);
      expect(await leases.release(key, first)).toBe(false);
      expect(await leases.get(key)).toBeNull();
      const second = await leases.acquire(key, 10_000, 'bob');
      expect(second).toBeGreaterThan(first);
    });

    it('renews with the current token only, holding the key past its first TTL', async () => {
      const key = freshKey();
      const token = (await leases.acquire(key, 500, 'alice')) as number;
      expect(await leases.renew(key, token + 1, 60_000)).toBe(false);
      expect(await leases.renew(key, token, 60_000)).toBe(true);
      expect((await leases.get(key))?.ttlMs).toBeGreaterThan(500);
      expect(await leases.renew(freshKey(), token, 60_000)).toBe(false);
    });

    it('expires after the TTL: another owner takes the key, and the old token neither renews nor releases', async () => {
      const key = freshKey();
      const old = (await leases.acquire(key, 150, 'alice')) as number;
      let next: number | null = null;
      await vi.waitFor(async () => {
        next = await leases.acquire(key, 10_000, 'bob');
        expect(next).not.toBeNull();
      }, WAIT);
      expect(next).toBeGreaterThan(old);
      expect(await leases.renew(key, old, 10_000)).toBe(false);
      expect(await leases.release(key, old)).toBe(false);
      expect(await leases.get(key)).toMatchObject({ owner: 'bob', token: next });
    });

    it('fencing tokens strictly increase per key over many grants, interleaved with other keys', async () => {
      const [a, b] = [freshKey('a'), freshKey('b')];
      const tokens: Record<string, number[]> = { [a]: [], [b]: [] };
      for (let i = 0; i < 40; i++) {
        for (const key of [a, b]) {
          const t = (await leases.acquire(key, 10_000, `owner-${i}`)) as number;
          tokens[key]?.push(t);
          expect(await leases.release(key, t)).toBe(true);
        }
      }
      for (const list of Object.values(tokens)) for (let i = 1; i < list.length; i++) expect(list[i]).toBeGreaterThan(list[i - 1] as number);
    });

    it('a store that came back empty still issues larger tokens than every grant before it', async () => {
      const key = freshKey();
      const before: number[] = [];
      for (let i = 0; i < 5; i++) before.push((await leases.acquire(`${key}:${i}`, 60_000, 'alice')) as number);
      leases = await restart();
      // The old grants are gone with the store: the keys are free again, for new owners.
      expect(await leases.get(`${key}:0`)).toBeNull();
      const after = (await leases.acquire(`${key}:0`, 60_000, 'bob')) as number;
      expect(after).toBeGreaterThan(Math.max(...before));
    });

    it('concurrent acquirers of one key: exactly one wins', async () => {
      const key = freshKey();
      const results = await Promise.all(Array.from({ length: 25 }, (_, i) => leases.acquire(key, 10_000, `owner-${i}`)));
      const winners = results.filter((t) => t !== null);
      expect(winners).toHaveLength(1);
      const holder = await leases.get(key);
      expect(holder?.token).toBe(winners[0]);
      expect(holder?.owner).toBe(`owner-${results.indexOf(winners[0] as number)}`);
    });

    it('keeps keys apart, also ones with braces, separators and Object.prototype names', async () => {
      const keys = ['__proto__', 'constructor', 'a{b}c', 'a', 'a/b', 'a|b', 'ünï'].map((k) => `${freshKey()}${k}`);
      const tokens = await Promise.all(keys.map((k, i) => leases.acquire(k, 10_000, `o${i}`)));
      expect(tokens.every((t) => t !== null)).toBe(true);
      for (const [i, k] of keys.entries()) expect(await leases.get(k)).toMatchObject({ owner: `o${i}`, token: tokens[i] });
    });

    it('refuses a TTL that is not a positive integer of milliseconds', async () => {
      for (const ttl of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expect(leases.acquire(freshKey(), ttl, 'alice')).rejects.toThrow(RangeError);
      }
    });
  });
}
