/**
 * Node messages between several nodes on the real Redis (a prefix of its own per run):
 * broadcasts and messages to one node, and departures: a crashed node (its connections cut
 * without any cleanup, as a kill -9 does) is announced to every survivor once, after its
 * registration expired; a node that shuts down announces itself.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { type ClusterNode, killHard, startNode, stopAll } from '../../../../test/cluster/cluster.js';
import { dropPrefix } from '../../../../test/cluster/drop-prefix.js';
import { RedisConnection } from '../../src/engine/redis/connection.js';
import { NodeRegistry } from '../../src/engine/redis/node-registry.js';
import { RedisNodeMessages } from '../../src/engine/redis/redis-node-messages.js';

const URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `sbtest-notes-${randomBytes(4).toString('hex')}`;
const TTL = 1500;
/** A dead node is announced when its registration expires, at most the TTL after its crash; the rest is slack for a loaded machine. */
const DOWN_WAIT = { timeout: TTL + 1500, interval: 10 };
const WAIT = { timeout: 5_000, interval: 5 };

interface TestNode {
  conn: RedisConnection;
  registry: NodeRegistry;
  messages: RedisNodeMessages;
  down: string[];
}

const started: TestNode[] = [];

async function node(): Promise<TestNode> {
  const conn = await RedisConnection.open({ url: URL, prefix: PREFIX, connectWait: 3000 });
  const registry = new NodeRegistry(conn, TTL);
  const messages = await RedisNodeMessages.create(conn, registry);
  registry.start();
  await registry.beat();
  const down: string[] = [];
  messages.onNodeDown((n) => {
    down.push(n);
  });
  const n = { conn, registry, messages, down };
  started.push(n);
  return n;
}

/** Cut a node's connections the hard way: no cleanup runs, as when its process is killed. */
function crash(n: TestNode): void {
  n.conn.cmd.disconnect();
  n.conn.sub.disconnect();
}

afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((n) => n.messages.close()));
});

afterAll(async () => {
  await dropPrefix(URL, PREFIX);
});

describe('redis node messages across nodes', () => {
  it('a broadcast reaches every node, the sender included, naming the sender', async () => {
    const [a, b, c] = [await node(), await node(), await node()];
    const got = new Map<string, Array<[unknown, string]>>();
    for (const n of [a, b, c]) {
      got.set(n.messages.nodeId, []);
      n.messages.onNotification('hello', (data, from) => {
        got.get(n.messages.nodeId)?.push([data, from]);
      });
    }
    await b.messages.notify('hello', { n: 1 });
    for (const n of [a, b, c]) await vi.waitFor(() => expect(got.get(n.messages.nodeId)).toEqual([[{ n: 1 }, b.messages.nodeId]]), WAIT);
  });

  it('a message to one node reaches that node only', async () => {
    const [a, b, c] = [await node(), await node(), await node()];
    const got: Record<string, unknown[]> = {};
    for (const n of [a, b, c]) {
      got[n.messages.nodeId] = [];
      n.messages.onNotification('direct', (data) => {
        got[n.messages.nodeId]?.push(data);
      });
    }
    await a.messages.notify('direct', 'for c', c.messages.nodeId);
    // A later broadcast from the same sender proves the direct one did not reach a or b.
    await a.messages.notify('direct', 'all');
    for (const n of [a, b, c]) await vi.waitFor(() => expect(got[n.messages.nodeId]).toContain('all'), WAIT);
    expect(got[c.messages.nodeId]).toEqual(['for c', 'all']);
    expect(got[a.messages.nodeId]).toEqual(['all']);
    expect(got[b.messages.nodeId]).toEqual(['all']);
  });

  it('a crashed node is announced once to every survivor within the TTL, after its registration expired', async () => {
    const [a, b, c] = [await node(), await node(), await node()];
    const admin = b.conn.cmd;
    const expiry = Number(await admin.zscore(`${PREFIX}:nodes`, a.messages.nodeId));
    crash(a);
    // Announced at its expiry (Redis time), not before: survivors beat when the first registration they know of expires.
    let announcedAt = 0;
    b.messages.onNodeDown(() => {
      void admin.time().then(([s, us]) => {
        announcedAt = Number(s) * 1000 + Math.floor(Number(us) / 1000);
      });
    });
    await vi.waitFor(() => {
      expect(b.down).toEqual([a.messages.nodeId]);
      expect(c.down).toEqual([a.messages.nodeId]);
    }, DOWN_WAIT);
    await vi.waitFor(() => expect(announcedAt).toBeGreaterThan(0), WAIT);
    expect(announcedAt).toBeGreaterThanOrEqual(expiry);
    // Its registration is gone (it was forgotten after the sweep).
    expect(await admin.zscore(`${PREFIX}:nodes`, a.messages.nodeId)).toBeNull();
    // Exactly once: more heartbeats pass and nothing more is announced.
    await b.registry.beat();
    await c.registry.beat();
    const op = 'sentinel';
    const seen: unknown[] = [];
    c.messages.onNotification(op, (d) => {
      seen.push(d);
    });
    await b.messages.notify(op, 1);
    await vi.waitFor(() => expect(seen).toEqual([1]), WAIT);
    expect(b.down).toEqual([a.messages.nodeId]);
    expect(c.down).toEqual([a.messages.nodeId]);
  });

  it('a server process killed with SIGKILL is announced to a survivor within the TTL; one stopped with SIGTERM announces itself', async () => {
    const survivor = await node();
    const procs: ClusterNode[] = [];
    try {
      procs.push(await startNode('doomed', { prefix: PREFIX, config: { timeouts: { presenceTtl: `${TTL}ms` } } }));
      procs.push(await startNode('leaving', { prefix: PREFIX, config: { timeouts: { presenceTtl: `${TTL}ms` } } }));
      const registered = async (name: string) => (await survivor.conn.cmd.zrange(`${PREFIX}:nodes`, '0', '-1')).find((id) => id.startsWith(`${name}-`));
      await vi.waitFor(async () => {
        expect(await registered('doomed')).toBeDefined();
        expect(await registered('leaving')).toBeDefined();
      }, WAIT);
      const [doomed, leaving] = [await registered('doomed'), await registered('leaving')];
      await killHard(procs[0] as ClusterNode);
      await vi.waitFor(() => expect(survivor.down).toEqual([doomed]), DOWN_WAIT);
      await stopAll([procs[1] as ClusterNode]);
      await vi.waitFor(() => expect(survivor.down).toEqual([doomed, leaving]), WAIT);
    } finally {
      await stopAll(procs);
    }
  });

  it('a node that shuts down announces itself to the others, and is not told of its own departure', async () => {
    const [a, b] = [await node(), await node()];
    const id = a.messages.nodeId;
    await a.messages.close();
    await vi.waitFor(() => expect(b.down).toEqual([id]), WAIT);
    expect(a.down).toEqual([]);
  });

  it('a message to a dead node is dropped, not an error', async () => {
    const [a, b] = [await node(), await node()];
    crash(b);
    await expect(a.messages.notify('direct', 'nobody', b.messages.nodeId)).resolves.toBeUndefined();
  });
});
