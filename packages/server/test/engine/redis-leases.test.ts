/**
 * Leases on Redis beyond the conformance suite: acquirers on several connections (nodes)
 * racing for one key, fencing tokens across a restart of Redis that comes back empty (a
 * redis-server of this test's own, no persistence, on a free port), and a node's memory
 * of the highest token that keeps tokens increasing even when Redis's clock is behind.
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dropPrefix } from '../../../../test/cluster/drop-prefix.js';
import { freePort, killRedis, type RedisProcess, startRedis } from '../../../../test/cluster/redis-servers.js';
import { RedisConnection } from '../../src/engine/redis/connection.js';
import { RedisLeaseStore } from '../../src/engine/redis/redis-lease-store.js';

const URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `sbtest-lease-${randomBytes(4).toString('hex')}`;
const WAIT = { timeout: 10_000, interval: 20 };

const stores: RedisLeaseStore[] = [];
async function store(url = URL): Promise<RedisLeaseStore> {
  const conn = await RedisConnection.open({ url, prefix: PREFIX, connectWait: 3000 });
  const leases = new RedisLeaseStore(conn);
  stores.push(leases);
  return leases;
}

afterAll(async () => {
  await Promise.allSettled(stores.splice(0).map((s) => s.close()));
  await dropPrefix(URL, PREFIX);
});

describe('redis leases across nodes', () => {
  it('acquirers on five connections racing for one key: exactly one wins, every round', async () => {
    const nodes = await Promise.all(Array.from({ length: 5 }, () => store()));
    let last = 0;
    for (let round = 0; round < 20; round++) {
      const key = `race|${round}`;
      const results = await Promise.all(nodes.flatMap((n, i) => Array.from({ length: 4 }, (_, j) => n.acquire(key, 10_000, `n${i}-${j}`))));
      const winners = results.filter((t): t is number => t !== null);
      expect(winners).toHaveLength(1);
      expect(winners[0]).toBeGreaterThan(last);
      last = winners[0] as number;
      const holder = await nodes[round % 5]?.get(key);
      expect(holder?.token).toBe(last);
    }
  });

  it('a lease whose holder stopped renewing (its node crashed) is taken by another node after the TTL, with a larger token', async () => {
    const [a, b] = [await store(), await store()];
    const old = (await a.acquire('crash|k', 200, 'node-a')) as number;
    expect(await b.acquire('crash|k', 10_000, 'node-b')).toBeNull();
    let next: number | null = null;
    await vi.waitFor(async () => {
      next = await b.acquire('crash|k', 10_000, 'node-b');
      expect(next).not.toBeNull();
    }, WAIT);
    expect(next).toBeGreaterThan(old);
  });
});

describe('fencing tokens across a Redis restart without persistence', () => {
  let dir: string;
  let redis: RedisProcess;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-lease-redis-'));
    port = await freePort();
    redis = await startRedis(dir, port, []);
  });

  afterAll(async () => {
    await killRedis(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  const restartEmpty = async (conns: RedisConnection[]) => {
    await killRedis(redis);
    redis = await startRedis(dir, port, []);
    const probe = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    expect(await probe.dbsize()).toBe(0);
    probe.disconnect();
    for (const c of conns) await vi.waitFor(() => expect(c.ready()).toBe(true), WAIT);
  };

  it('every token after the restart is larger than every token before, on this node and on a node that never saw them', async () => {
    const url = `redis://127.0.0.1:${port}`;
    const [ca, cb] = [
      await RedisConnection.open({ url, prefix: PREFIX, connectWait: 3000 }),
      await RedisConnection.open({ url, prefix: PREFIX, connectWait: 3000 }),
    ];
    const [a, b] = [new RedisLeaseStore(ca), new RedisLeaseStore(cb)];
    try {
      const before: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t = (await a.acquire('doc|1', 60_000, `w${i}`)) as number;
        before.push(t);
        expect(await a.release('doc|1', t)).toBe(true);
      }
      const held = (await a.acquire('doc|1', 60_000, 'holder')) as number;
      await restartEmpty([ca, cb]);
      // The lease went with the data: the key is free again, and its next grant is fenced above the old ones.
      expect(await b.get('doc|1')).toBeNull();
      const afterB = (await b.acquire('doc|1', 60_000, 'new-holder')) as number;
      expect(afterB).toBeGreaterThan(Math.max(...before, held));
      expect(await a.renew('doc|1', held, 60_000)).toBe(false);
      expect(await b.release('doc|1', afterB)).toBe(true);
      const afterA = (await a.acquire('doc|1', 60_000, 'a-again')) as number;
      expect(afterA).toBeGreaterThan(afterB);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("a node that saw a token ahead of Redis's clock keeps its grants above it after Redis restarts behind", async () => {
    const url = `redis://127.0.0.1:${port}`;
    const conn = await RedisConnection.open({ url, prefix: PREFIX, connectWait: 3000 });
    const leases = new RedisLeaseStore(conn);
    const admin = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    try {
      // A lease granted while Redis's clock ran an hour ahead (written as it would have been).
      const [s, us] = await admin.time();
      const ahead = (Number(s) + 3600) * 1_000_000 + Number(us);
      await admin.hset(`${PREFIX}:lease:{job|ahead}`, 'o', 'someone', 't', String(ahead));
      await admin.pexpire(`${PREFIX}:lease:{job|ahead}`, 60_000);
      expect(await leases.get('job|ahead')).toMatchObject({ owner: 'someone', token: ahead });
      admin.disconnect();
      await restartEmpty([conn]);
      // Redis time is an hour behind that token now; the node's memory keeps every new grant above it.
      const token = (await leases.acquire('job|ahead', 60_000, 'me')) as number;
      expect(token).toBeGreaterThan(ahead);
      const other = (await leases.acquire('job|other-key', 60_000, 'me')) as number;
      expect(other).toBeGreaterThan(token);
    } finally {
      admin.disconnect();
      await leases.close();
    }
  });
});
