import { ErrorCode, type LockInfo } from '@switchboard/protocol';
import { mintToken } from '@switchboard/server';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterNode, dropPrefix, eventually, killHard, newPrefix, REDIS_URL, SECRET, startCluster, stopAll } from '../../cluster/cluster.js';
import { createTestDatabase, type TestDatabase } from '../../durable/helpers.js';
import type { Frame } from '../../helpers/raw-client.js';
import { RawClient } from '../../helpers/raw-client.js';

/**
 * Waiting acquires (`waitMs`) on three server processes with Redis: one line per key in the
 * engine, so the key goes to its waiters in the order they came, whichever node each waits
 * on; a wait that ends (time out, connection closed) leaves the line at once; a steal goes
 * ahead of the line; the place of a waiter whose node was killed lapses after
 * `locks.waitLease` and the next waiter gets the key.
 */

const CHANNEL = 'project:line';
const WAIT_LEASE_MS = 900;

describe('the line of waiting acquires across three nodes with Redis', () => {
  const prefix = newPrefix('lockline');
  let nodes: ClusterNode[] = [];
  let db: TestDatabase;
  let redis: Redis;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    nodes = await startCluster(['qa', 'qb', 'qc'], {
      prefix,
      config: {
        database: db.database,
        locks: { waitLease: `${WAIT_LEASE_MS}ms` },
        namespaces: { project: { historySize: 200, historyTtl: '5m', locks: true } },
      },
    });
    redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await stopAll(nodes);
    redis?.disconnect();
    await dropPrefix(prefix);
    await db?.drop();
  });

  const connect = async (node: ClusterNode, user: string, caps = ['subscribe', 'lock']) => {
    const c = await RawClient.connect(node.url, await mintToken(SECRET, { sub: user, tenant: 'acme', caps: { 'project:*': caps } as never, ttlSeconds: 3600 }));
    clients.push(c);
    return c;
  };

  /** The users waiting in the engine's line of a key, first first. */
  const line = async (key: string): Promise<string[]> => {
    const owners = await redis.zrange(`${prefix}:lease-line:{locks/acme|${CHANNEL}|${key}}`, 0, -1);
    return owners.map((o) => (JSON.parse(o) as [string, string])[1]);
  };

  const acquire = (c: RawClient, key: string, params: Record<string, unknown> = {}) => c.call('locks.acquire', { channel: CHANNEL, key, ...params }, 40_000);
  const lockOf = (reply: Frame) => {
    expect(reply.error).toBeUndefined();
    return reply.result as unknown as LockInfo;
  };

  it('hands a key to its waiters in the order they came, whichever node each waits on', async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const holder = await connect(a, 'ada');
    let token = lockOf(await acquire(holder, 'k1')).fencingToken;
    // Six waiters, two per node, each in line before the next asks (nodes b, c, a, b, c, a).
    const users = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5'];
    const placed = [b, c, a, b, c, a];
    const waiters: RawClient[] = [];
    const replies: Promise<Frame>[] = [];
    for (const [i, user] of users.entries()) {
      const w = await connect(placed[i] as ClusterNode, user);
      waiters.push(w);
      replies.push(acquire(w, 'k1', { waitMs: 30_000 }));
      await eventually(async () => (await line('k1')).length === i + 1, 5_000, `${user} in line`);
    }
    expect(await line('k1')).toEqual(users);
    let current = holder;
    const order: string[] = [];
    const settled = new Set<number>();
    replies.forEach((r, i) => void r.then(() => settled.add(i)));
    for (let i = 0; i < users.length; i++) {
      expect(lockOf(await current.call('locks.release', { channel: CHANNEL, key: 'k1' })).fencingToken).toBe(token);
      const granted = lockOf(await (replies[i] as Promise<Frame>));
      order.push(granted.holder.user);
      expect(granted.fencingToken).toBeGreaterThan(token);
      token = granted.fencingToken;
      // Nobody behind was answered: one grant per release, to the first in line.
      expect([...settled].sort()).toEqual(users.slice(0, i + 1).map((_, j) => j));
      expect(await line('k1')).toEqual(users.slice(i + 1));
      current = waiters[i] as RawClient;
    }
    expect(order).toEqual(users);
  }, 60_000);

  it('a wait that runs out, or whose connection closes, leaves the line at once; the others keep their places', async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const holder = await connect(a, 'ada2');
    lockOf(await acquire(holder, 'k2'));
    const first = await connect(b, 's');
    const firstReply = acquire(first, 'k2', { waitMs: 30_000 });
    await eventually(async () => (await line('k2')).length === 1, 5_000, 's in line');
    const brief = await connect(c, 'p');
    const refused = await acquire(brief, 'k2', { waitMs: 400 });
    expect(refused.error).toMatchObject({ code: ErrorCode.Locked.code, data: { holder: { user: 'ada2' } } });
    // The place goes before the refusal is answered.
    expect(await line('k2')).toEqual(['s']);
    const closing = await connect(c, 'q');
    void acquire(closing, 'k2', { waitMs: 30_000 }).catch(() => undefined);
    await eventually(async () => (await line('k2')).length === 2, 5_000, 'q in line');
    closing.close();
    // s keeps renewing its place (and the line's key) the whole time: only leaving takes q out.
    await eventually(async () => (await line('k2')).join() === 's', 5_000, 'q out of the line');
    await holder.call('locks.release', { channel: CHANNEL, key: 'k2' });
    expect(lockOf(await firstReply).holder.user).toBe('s');
    expect(await line('k2')).toEqual([]);
  }, 60_000);

  it('a steal takes the key at once, ahead of the line, and the line goes on after it', async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const holder = await connect(a, 'ada3');
    const held = lockOf(await acquire(holder, 'k3'));
    const waiter = await connect(b, 'patient');
    const waiting = acquire(waiter, 'k3', { waitMs: 30_000 });
    await eventually(async () => (await line('k3')).length === 1, 5_000, 'patient in line');
    const admin = await connect(c, 'admin', ['subscribe', 'lock', 'unlock']);
    const stolen = lockOf(await acquire(admin, 'k3', { steal: true }));
    expect(stolen.holder.user).toBe('admin');
    expect(stolen.fencingToken).toBeGreaterThan(held.fencingToken);
    expect(await line('k3')).toEqual(['patient']);
    await admin.call('locks.release', { channel: CHANNEL, key: 'k3' });
    const next = lockOf(await waiting);
    expect(next.holder.user).toBe('patient');
    expect(next.fencingToken).toBeGreaterThan(stolen.fencingToken);
  }, 60_000);

  it('the place of a waiter whose node was killed lapses, and the next waiter gets the key', async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const holder = await connect(a, 'ada4');
    const held = lockOf(await acquire(holder, 'k4'));
    const doomed = await connect(c, 'doomed');
    void acquire(doomed, 'k4', { waitMs: 30_000 }).catch(() => undefined);
    await eventually(async () => (await line('k4')).length === 1, 5_000, 'doomed in line');
    const next = await connect(b, 'next');
    const waiting = acquire(next, 'k4', { waitMs: 30_000 });
    await eventually(async () => (await line('k4')).length === 2, 5_000, 'next in line');
    await killHard(c);
    await holder.call('locks.release', { channel: CHANNEL, key: 'k4' });
    const granted = lockOf(await waiting);
    expect(granted.holder.user).toBe('next');
    expect(granted.fencingToken).toBeGreaterThan(held.fencingToken);
    expect(await line('k4')).toEqual([]);
  }, 60_000);
});
