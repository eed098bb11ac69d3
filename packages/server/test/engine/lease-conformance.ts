/**
 * Conformance suite for LeaseStore (memory, Redis): one holder per key, idempotent acquire
 * by the holder, renew and release only with the current token, expiry after the TTL,
 * fencing tokens that strictly increase per key, and a line of waiting owners served first
 * come first served (places kept when asked again, lost when they lapse or are left). Expiry is awaited with vi.waitFor on short
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

    it('a freed key goes to the first owner in line, then the next; nobody without a place gets ahead of them', async () => {
      const key = freshKey();
      const first = (await leases.acquire(key, 10_000, 'alice')) as number;
      for (const owner of ['bob', 'carol']) expect(await leases.queue(key, 10_000, owner, 60_000)).toBeNull();
      expect(await leases.release(key, first)).toBe(true);
      // Free, but bob came first: carol (in line) and dave (not) are refused.
      expect(await leases.queue(key, 10_000, 'carol', 60_000)).toBeNull();
      expect(await leases.acquire(key, 10_000, 'dave')).toBeNull();
      expect(await leases.get(key)).toBeNull();
      const bob = (await leases.queue(key, 10_000, 'bob', 60_000)) as number;
      expect(bob).toBeGreaterThan(first);
      expect(await leases.release(key, bob)).toBe(true);
      expect(await leases.acquire(key, 10_000, 'dave')).toBeNull();
      const carol = (await leases.queue(key, 10_000, 'carol', 60_000)) as number;
      expect(carol).toBeGreaterThan(bob);
      expect(await leases.release(key, carol)).toBe(true);
      // The line is empty: a plain acquire takes the key again.
      expect(await leases.acquire(key, 10_000, 'dave')).toBeGreaterThan(carol);
    });

    it('grants in order of arrival in line, also when every waiter asks at once after each release', async () => {
      const key = freshKey();
      let token = (await leases.acquire(key, 10_000, 'holder')) as number;
      const owners = Array.from({ length: 12 }, (_, i) => `w${String(i).padStart(2, '0')}`).reverse();
      for (const owner of owners) expect(await leases.queue(key, 10_000, owner, 60_000)).toBeNull();
      const granted: string[] = [];
      for (let round = 0; round < owners.length; round++) {
        expect(await leases.release(key, token)).toBe(true);
        // The last to arrive asks first.
        const waiting = owners.filter((o) => !granted.includes(o)).reverse();
        const tries = await Promise.all(waiting.map((o) => leases.queue(key, 10_000, o, 60_000)));
        const winners = waiting.filter((_, i) => tries[i] !== null);
        expect(winners).toHaveLength(1);
        granted.push(winners[0] as string);
        token = tries.find((t) => t !== null) as number;
      }
      expect(granted).toEqual(owners);
    });

    it('an owner asking again keeps its place; one that leaves gives it up', async () => {
      const key = freshKey();
      const first = (await leases.acquire(key, 10_000, 'alice')) as number;
      for (const owner of ['bob', 'carol', 'dave']) await leases.queue(key, 10_000, owner, 60_000);
      // Asked again (its node renewing the place) bob stays first; carol leaves.
      expect(await leases.queue(key, 10_000, 'bob', 60_000)).toBeNull();
      await leases.leave(key, 'carol');
      await leases.leave(key, 'nobody');
      expect(await leases.release(key, first)).toBe(true);
      expect(await leases.queue(key, 10_000, 'dave', 60_000)).toBeNull();
      const bob = (await leases.queue(key, 10_000, 'bob', 60_000)) as number;
      expect(bob).not.toBeNull();
      expect(await leases.release(key, bob)).toBe(true);
      expect(await leases.queue(key, 10_000, 'dave', 60_000)).not.toBeNull();
    });

    it('a place that lapses is skipped: the next owner in line gets the free key', async () => {
      const key = freshKey();
      const first = (await leases.acquire(key, 10_000, 'alice')) as number;
      expect(await leases.queue(key, 10_000, 'bob', 150)).toBeNull();
      expect(await leases.queue(key, 10_000, 'carol', 60_000)).toBeNull();
      expect(await leases.release(key, first)).toBe(true);
      let carol: number | null = null;
      await vi.waitFor(async () => {
        carol = await leases.queue(key, 10_000, 'carol', 60_000);
        expect(carol).not.toBeNull();
      }, WAIT);
      expect(await leases.get(key)).toMatchObject({ owner: 'carol', token: carol });
      // bob's place is gone: asking again queues him at the end, behind nobody now.
      expect(await leases.queue(key, 10_000, 'bob', 60_000)).toBeNull();
      expect(await leases.release(key, carol as unknown as number)).toBe(true);
      expect(await leases.acquire(key, 10_000, 'erin')).toBeNull();
      expect(await leases.queue(key, 10_000, 'bob', 60_000)).not.toBeNull();
    });

    it('an owner put first in line (a steal) gets the key before everyone already waiting', async () => {
      const key = freshKey();
      const first = (await leases.acquire(key, 10_000, 'alice')) as number;
      for (const owner of ['bob', 'carol']) await leases.queue(key, 10_000, owner, 60_000);
      expect(await leases.queue(key, 10_000, 'admin', 60_000, true)).toBeNull();
      expect(await leases.release(key, first)).toBe(true);
      expect(await leases.queue(key, 10_000, 'bob', 60_000)).toBeNull();
      const admin = (await leases.queue(key, 10_000, 'admin', 60_000)) as number;
      expect(admin).toBeGreaterThan(first);
      expect(await leases.release(key, admin)).toBe(true);
      // Then the line goes on in its order.
      expect(await leases.queue(key, 10_000, 'carol', 60_000)).toBeNull();
      expect(await leases.queue(key, 10_000, 'bob', 60_000)).not.toBeNull();
      // On a free key with owners in line, the one put first takes it at once.
      const key2 = freshKey();
      const t = (await leases.acquire(key2, 10_000, 'alice')) as number;
      await leases.queue(key2, 10_000, 'bob', 60_000);
      await leases.release(key2, t);
      expect(await leases.queue(key2, 10_000, 'admin', 60_000, true)).not.toBeNull();
    });

    it('the holder asking in line gets its token again and takes no place', async () => {
      const key = freshKey();
      const token = (await leases.acquire(key, 10_000, 'alice')) as number;
      expect(await leases.queue(key, 10_000, 'alice', 60_000)).toBe(token);
      expect(await leases.release(key, token)).toBe(true);
      expect(await leases.acquire(key, 10_000, 'bob')).toBeGreaterThan(token);
    });

    it('refuses a TTL that is not a positive integer of milliseconds', async () => {
      for (const ttl of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expect(leases.acquire(freshKey(), ttl, 'alice')).rejects.toThrow(RangeError);
        await expect(leases.queue(freshKey(), 10_000, 'alice', ttl)).rejects.toThrow(RangeError);
      }
    });
  });
}
