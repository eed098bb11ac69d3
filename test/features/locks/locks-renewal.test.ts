import { ErrorCode, type LockInfo } from '@switchboard/protocol';
import { mintToken } from '@switchboard/server';
import { afterAll, describe, expect, it } from 'vitest';
import { type ClusterNode, dropPrefix, newPrefix, SECRET, startCluster, stopAll } from '../../cluster/cluster.js';
import { RawClient } from '../../helpers/raw-client.js';

/**
 * The renewal of connection locks racing their releases, on the Redis engine (a renewal is
 * a round trip there, so a release and a new grant of the key can happen while it is in
 * flight). A renewal that finds the lease gone because its holder released it is no loss:
 * the holder's release is answered, announced once with reason `released`, never `lost`.
 */

const CYCLES = 600;
const HOLDERS = 4;
const STILL = 40;

describe('lock renewals racing releases on Redis', () => {
  const prefix = newPrefix('lockrenew');
  let nodes: ClusterNode[] = [];
  const clients: RawClient[] = [];

  afterAll(async () => {
    for (const c of clients) c.close();
    await stopAll(nodes);
    await dropPrefix(prefix);
  });

  const connect = async (node: ClusterNode, user: string) => {
    const c = await RawClient.connect(
      node.url,
      await mintToken(SECRET, { sub: user, tenant: 'acme', caps: { 'project:*': ['subscribe', 'lock'] }, ttlSeconds: 3600 }),
    );
    clients.push(c);
    return c;
  };

  it('answers every release and announces each grant released once, with reason released, while renewals run every 40 ms', async () => {
    // A lease of 120 ms is renewed every 40 ms: hundreds of renewals race the hand-offs below.
    nodes = await startCluster(['lr'], {
      prefix,
      config: { locks: { connectionLease: '120ms' }, namespaces: { project: { historySize: 10_000, historyTtl: '5m', locks: true } } },
    });
    const node = nodes[0] as ClusterNode;
    const watcher = await connect(node, 'watcher');
    expect((await watcher.call('subscribe', { channel: 'project:renew' })).error).toBeUndefined();
    const holders = await Promise.all(Array.from({ length: HOLDERS }, (_, i) => connect(node, `h${i}`)));
    // Locks held throughout: each renewal pass takes a round trip per lock, so the hot key's
    // grant it read at the start may be released and granted again before its turn comes.
    for (let i = 0; i < STILL; i++) {
      const still = await connect(node, `s${i}`);
      expect((await still.call('locks.acquire', { channel: 'project:renew', key: `still:${i}` })).error).toBeUndefined();
    }

    let grants = 0;
    const failures: string[] = [];
    const deadline = Date.now() + 60_000;
    const loop = async (c: RawClient) => {
      while (grants < CYCLES && Date.now() < deadline) {
        const got = await c.call('locks.acquire', { channel: 'project:renew', key: 'hot', waitMs: 5000 }, 10_000);
        if (got.error) {
          if (got.error.code !== ErrorCode.Locked.code) failures.push(`acquire ${got.error.code} ${got.error.message}`);
          continue;
        }
        grants++;
        const released = await c.call('locks.release', { channel: 'project:renew', key: 'hot' }, 10_000);
        if (released.error) failures.push(`release ${released.error.code} ${released.error.message}`);
      }
    };
    await Promise.all(holders.map(loop));
    expect(failures).toEqual([]);
    expect(grants).toBeGreaterThanOrEqual(CYCLES);

    const lockPushes = () => watcher.pushes('pub', 'project:renew').map((f) => f['data'] as { event: string; reason?: string; lock: LockInfo });
    await watcher.until(() => lockPushes().filter((p) => p.event === 'released' && p.lock.key === 'hot').length >= grants, 20_000, 'every release announced');
    const released = lockPushes().filter((p) => p.event === 'released' && p.lock.key === 'hot');
    expect(released.filter((p) => p.reason !== 'released').map((p) => p.reason)).toEqual([]);
    const tokens = released.map((p) => p.lock.fencingToken);
    expect(new Set(tokens).size).toBe(grants);
    expect(released.length).toBe(grants);
    // The locks held throughout were renewed on time, every one of them.
    expect(
      lockPushes()
        .filter((p) => p.event === 'released' && p.lock.key !== 'hot')
        .map((p) => p.lock.key),
    ).toEqual([]);
  }, 120_000);
});
