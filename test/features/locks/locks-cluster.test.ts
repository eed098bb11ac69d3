import { ErrorCode, type LockInfo } from '@switchboard/protocol';
import { mintToken } from '@switchboard/server';
import { afterAll, describe, expect, it } from 'vitest';
import { type ClusterNode, dropPrefix, killHard, newPrefix, SECRET, startCluster, stopAll } from '../../cluster/cluster.js';
import { createTestDatabase, type TestDatabase } from '../../durable/helpers.js';
import { RawClient } from '../../helpers/raw-client.js';

/**
 * Locks across two server processes on the Redis engine and one PostgreSQL database: one
 * holder per key cluster-wide, and a kill -9 of the holder's node releases its locks for a
 * waiter on the surviving node (node death from the engine's node messages).
 */

describe('locks on two nodes with Redis', () => {
  const prefix = newPrefix('locks');
  let nodes: ClusterNode[] = [];
  let db: TestDatabase;
  const clients: RawClient[] = [];

  afterAll(async () => {
    for (const c of clients) c.close();
    await stopAll(nodes);
    await dropPrefix(prefix);
    await db?.drop();
  });

  const connect = async (node: ClusterNode, user: string) => {
    const c = await RawClient.connect(
      node.url,
      await mintToken(SECRET, { sub: user, tenant: 'acme', caps: { 'project:*': ['subscribe', 'lock'] }, ttlSeconds: 3600 }),
    );
    clients.push(c);
    return c;
  };

  it("refuses a key held on the other node, and hands it to the survivor's waiter when the holder's node is killed", async () => {
    db = await createTestDatabase('postgres');
    nodes = await startCluster(['la', 'lb'], {
      prefix,
      config: { database: db.database, namespaces: { project: { historySize: 200, historyTtl: '5m', locks: true } } },
    });
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const ada = await connect(a, 'ada');
    const granted = (await ada.call('locks.acquire', { channel: 'project:cl', key: 'node:1' })).result as unknown as LockInfo;
    expect(granted.fencingToken).toBeGreaterThan(0);

    const bob = await connect(b, 'bob');
    const refused = await bob.call('locks.acquire', { channel: 'project:cl', key: 'node:1' });
    expect(refused.error).toMatchObject({ code: ErrorCode.Locked.code, data: { holder: { user: 'ada' } } });
    const watcher = await connect(b, 'carol');
    await watcher.call('subscribe', { channel: 'project:cl' });

    const waiting = bob.call('locks.acquire', { channel: 'project:cl', key: 'node:1', waitMs: 30_000 }, 40_000);
    await killHard(a);
    const reply = await waiting;
    expect(reply.error).toBeUndefined();
    const next = reply.result as unknown as LockInfo;
    expect(next.holder.user).toBe('bob');
    expect(next.fencingToken).toBeGreaterThan(granted.fencingToken);
    const released = await watcher.waitFor((f) => f.push === 'pub' && (f['data'] as { event?: string }).event === 'released', 10_000);
    expect(released['data']).toMatchObject({ reason: 'node-down', lock: { key: 'node:1', holder: { user: 'ada' }, fencingToken: granted.fencingToken } });
  }, 60_000);
});
