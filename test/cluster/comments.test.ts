/**
 * Comment threads on a cluster of three server processes sharing the real Redis and the real
 * PostgreSQL: a change written on one node reaches the watchers on every node, and reactions
 * written on all three at once end, at every watcher, at the counts stored in the database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../durable/helpers.js';
import { RawClient } from '../helpers/raw-client.js';
import { api, type ClusterNode, dropPrefix, eventually, newPrefix, startCluster, stopAll, token } from './cluster.js';

interface Thread {
  id: string;
  comments: Array<{ id: string; reactions: Array<{ reaction: string; count: number }> }>;
}
type ReactionPush = { kind: string; version: number; reactions: Array<{ reaction: string; count: number }> };

describe('comment threads on a cluster of three nodes', () => {
  const prefix = newPrefix('comments');
  let nodes: ClusterNode[] = [];
  let db: TestDatabase;
  const clients: RawClient[] = [];
  const connect = async (node: ClusterNode, user: string) => {
    const client = await RawClient.connect(node.url, await token(user));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    nodes = await startCluster(['a', 'b', 'c'], {
      prefix,
      config: {
        database: db.database,
        comments: { reactionRate: 0 },
        limits: { newConnectionsPerIpPerSecond: 100_000 },
        namespaces: {
          project: { historySize: 200, historyTtl: '5m', comments: true },
          forms: { comments: { reactionRate: 1 } },
          user: { subscribe: 'owner', clientPublish: false, presence: false },
          comments: { subscribe: 'authenticated', historySize: 0, clientPublish: false, presence: false, joinLeave: false, signals: false, recovery: false },
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.terminate();
    await stopAll(nodes);
    await dropPrefix(prefix);
    await db?.drop();
  }, 30_000);

  it('a reply written on node B reaches watchers on A and C; 300 reactions written on all nodes end at 300 at every watcher', async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const watchers = [await connect(a, 'wa'), await connect(b, 'wb'), await connect(c, 'wc')];
    for (const w of watchers) expect((await w.call('subscribe', { channel: 'comments:project:1' })).error).toBeUndefined();
    const created = await api(a, 'POST', '/channels/project:1/threads', { userId: 'ann', body: 'on a' });
    expect(created.status).toBe(201);
    const thread = created.body['thread'] as Thread;
    const cid = thread.comments[0]?.id as string;
    const replied = await api(b, 'POST', `/threads/${thread.id}/comments`, { userId: 'bob', body: 'on b' });
    expect(replied.status).toBe(201);
    for (const w of watchers) await w.waitFor((f) => f.push === 'pub' && (f['data'] as { kind?: string }).kind === 'comment', 10_000);

    for (let i = 0; i < 300; i += 30) {
      await Promise.all(
        Array.from({ length: 30 }, async (_, j) => {
          const n = i + j;
          const node = nodes[n % 3] as ClusterNode;
          if (n % 2 === 0) {
            const res = await api(node, 'PUT', `/threads/${thread.id}/comments/${cid}/reactions/like?userId=u${n}`);
            expect(res.status).toBe(200);
            return;
          }
          const client = await RawClient.connect(node.url, await token(`u${n}`));
          try {
            const f = await client.call('comments.set_reaction', { threadId: thread.id, commentId: cid, reaction: 'like', on: true });
            expect(f.error).toBeUndefined();
          } finally {
            client.close();
          }
        }),
      );
    }
    const stored = (await api(c, 'GET', `/threads/${thread.id}`)).body as unknown as Thread;
    expect(stored.comments[0]?.reactions).toEqual([expect.objectContaining({ reaction: 'like', count: 300 })]);
    const newest = (w: RawClient): ReactionPush | undefined =>
      w
        .pushes('pub', 'comments:project:1')
        .map((f) => f['data'] as ReactionPush)
        .filter((d) => d.kind === 'reaction')
        .reduce<ReactionPush | undefined>((m, d) => (m === undefined || d.version > m.version ? d : m), undefined);
    await eventually(() => watchers.every((w) => newest(w)?.version === 300), 15_000, 'every watcher at version 300');
    for (const w of watchers) expect(newest(w)?.reactions).toEqual([expect.objectContaining({ reaction: 'like', count: 300 })]);
  }, 60_000);

  it('a thread deleted on node B while node A remembers its channel: replies and reactions on A answer 404 and push nothing to the old channel', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const created = await api(a, 'POST', '/channels/project:2/threads', { userId: 'ann', body: 'soon gone' });
    expect(created.status).toBe(201);
    const thread = created.body['thread'] as Thread;
    const cid = thread.comments[0]?.id as string;
    const watcher = await connect(a, 'wd');
    expect((await watcher.call('subscribe', { channel: 'comments:project:2' })).error).toBeUndefined();
    const writer = await connect(a, 'ann');
    // Node A now knows the thread's channel: a reply and a reaction went through it.
    expect((await writer.call('comments.reply', { threadId: thread.id, body: 'before' })).error).toBeUndefined();
    expect((await writer.call('comments.set_reaction', { threadId: thread.id, commentId: cid, reaction: 'like', on: true })).error).toBeUndefined();
    expect((await api(b, 'DELETE', `/threads/${thread.id}`)).status).toBe(200);
    const isDeleted = (d: { kind?: string; action?: string }) => d.kind === 'thread' && d.action === 'deleted';
    await watcher.waitFor((f) => f.push === 'pub' && isDeleted(f['data'] as { kind?: string; action?: string }), 10_000);
    expect((await writer.call('comments.reply', { threadId: thread.id, body: 'after' })).error).toMatchObject({ code: 117 });
    expect((await writer.call('comments.set_reaction', { threadId: thread.id, commentId: cid, reaction: 'love', on: true })).error).toMatchObject({
      code: 117,
    });
    expect((await api(a, 'POST', `/threads/${thread.id}/comments`, { userId: 'ann', body: 'after' })).status).toBe(404);
    // A later thread's push from node A comes after anything the refused writes on A could have pushed.
    const marker = await api(a, 'POST', '/channels/project:2/threads', { userId: 'ann', body: 'marker' });
    expect(marker.status).toBe(201);
    const markerId = (marker.body['thread'] as Thread).id;
    await watcher.waitFor((f) => f.push === 'pub' && (f['data'] as { thread?: { id: string } }).thread?.id === markerId, 10_000);
    const seen = watcher.pushes('pub', 'comments:project:2').map((f) => f['data'] as { kind?: string; action?: string; comment?: { body: string } });
    expect(seen.slice(seen.findIndex(isDeleted) + 1).map((d) => d.kind)).toEqual(['thread']);
    expect(seen.filter((d) => d.kind === 'comment').map((d) => d.comment?.body)).toEqual(['before']);
  }, 30_000);

  it("one user's reaction rate is one budget over the three nodes, not one per node", async () => {
    const created = await api(nodes[0] as ClusterNode, 'POST', '/channels/forms:1/threads', { userId: 'ann', body: 'rated' });
    expect(created.status).toBe(201);
    const thread = created.body['thread'] as Thread;
    const cid = thread.comments[0]?.id as string;
    const reactions = ['like', 'love', 'laugh', 'wow', 'sad', 'angry'];
    const started = performance.now();
    const answers = await Promise.all(
      reactions.map((r, i) => api(nodes[i % 3] as ClusterNode, 'PUT', `/threads/${thread.id}/comments/${cid}/reactions/${r}?userId=rita`)),
    );
    const seconds = (performance.now() - started) / 1000;
    const ok = answers.filter((a) => a.status === 200).length;
    expect(answers.every((a) => a.status === 200 || (a.status === 429 && (a.body['error'] as { code: number }).code === 111))).toBe(true);
    // 1 a second with a burst of 1: what one shared bucket allows in the time taken (a bucket per node would allow 3 at once).
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(ok).toBeLessThanOrEqual(1 + Math.floor(seconds));
    const stored = (await api(nodes[2] as ClusterNode, 'GET', `/threads/${thread.id}`)).body as unknown as Thread;
    expect(stored.comments[0]?.reactions.reduce((n, r) => n + r.count, 0)).toBe(ok);
  }, 30_000);
});
