/**
 * Three server processes on the redis engine and the real Redis, each run with its own key
 * prefix, no sticky sessions: what one node does, every node sees.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Frame, RawClient } from '../helpers/raw-client.js';
import { api, type ClusterNode, dropPrefix, eventually, killHard, newPrefix, REDIS_URL, startCluster, stopAll, token } from './cluster.js';

const offsets = (c: RawClient, channel: string) => c.pushes('pub', channel).map((f) => f['offset'] as number);
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('cluster of three nodes on one Redis', () => {
  const prefix = newPrefix('main');
  let nodes: ClusterNode[] = [];
  let a: ClusterNode;
  let b: ClusterNode;
  let c: ClusterNode;
  const clients: RawClient[] = [];
  const connect = async (node: ClusterNode, user: string) => {
    const client = await RawClient.connect(node.url, await token(user));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    nodes = await startCluster(['a', 'b', 'c'], { prefix, config: { limits: { connectionsPerUser: 2 } } });
    [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
  }, 30_000);

  afterAll(async () => {
    for (const client of clients) client.terminate();
    await stopAll(nodes);
    await dropPrefix(prefix);
  }, 30_000);

  it('a publication on node A reaches subscribers on B and C once each, in order', async () => {
    const pub = await connect(a, 'fan-pub');
    const onB = await connect(b, 'fan-b');
    const onC = await connect(c, 'fan-c');
    expect((await onB.call('subscribe', { channel: 'project:fan' })).result).toMatchObject({ offset: 0 });
    expect((await onC.call('subscribe', { channel: 'project:fan' })).result).toMatchObject({ offset: 0 });
    // Pipelined: the 60 publishes are in flight together.
    const ids = range(0, 60).map((i) => pub.send('publish', { channel: 'project:fan', data: { i } }));
    const replies = await Promise.all(ids.map((id) => pub.waitFor((f) => f.id === id)));
    expect(replies.map((r) => r.result?.['offset'])).toEqual(range(1, 60));
    for (const sub of [onB, onC]) {
      await sub.until(() => offsets(sub, 'project:fan').length >= 60, 5000, '60 publications');
      expect(offsets(sub, 'project:fan')).toEqual(range(1, 60));
      expect(sub.pushes('pub', 'project:fan').map((f) => (f['data'] as { i: number }).i)).toEqual(range(0, 60));
    }
    // A sentinel proves nothing more is on its way: no publication arrives twice.
    await pub.call('publish', { channel: 'project:fan', data: 'end' });
    for (const sub of [onB, onC]) {
      await sub.waitFor((f) => f.push === 'pub' && f['data'] === 'end');
      expect(offsets(sub, 'project:fan')).toEqual(range(1, 61));
    }
    // Each node got one Redis message per publication, whatever its number of subscribers: its own.
    expect(pub.pushes('pub', 'project:fan')).toEqual([]);
  });

  it('a client that drops from A and reconnects to B recovers exactly what it missed (recovered: true), none twice', async () => {
    const pub = await connect(c, 'rec-pub');
    let reader = await connect(a, 'rec-reader');
    const first = await reader.call('subscribe', { channel: 'project:recover' });
    const epoch = first.result?.['epoch'] as string;
    for (let i = 0; i < 5; i++) await pub.call('publish', { channel: 'project:recover', data: { i } });
    await reader.until(() => offsets(reader, 'project:recover').length === 5, 5000, '5 publications');
    const last = Math.max(...offsets(reader, 'project:recover'));
    reader.terminate();
    for (let i = 5; i < 12; i++) await pub.call('publish', { channel: 'project:recover', data: { i } });
    reader = await connect(b, 'rec-reader');
    const resub = reader.send('subscribe', { channel: 'project:recover', recover: { offset: last, epoch } });
    // Publications go on during the resubscribe.
    for (let i = 12; i < 16; i++) pub.send('publish', { channel: 'project:recover', data: { i } });
    const reply = await reader.waitFor((f) => f.id === resub);
    expect(reply.result).toMatchObject({ recovered: true, epoch });
    const recovered = (reply.result?.['publications'] as Array<{ offset: number }>).map((p) => p.offset);
    expect(recovered[0]).toBe(last + 1);
    await reader.until(() => recovered.length + offsets(reader, 'project:recover').length >= 11, 5000, 'live publications');
    await pub.call('publish', { channel: 'project:recover', data: 'end' });
    await reader.waitFor((f) => f.push === 'pub' && f['data'] === 'end');
    expect([...recovered, ...offsets(reader, 'project:recover')]).toEqual(range(last + 1, 12));
    const replyIndex = reader.frames.indexOf(reply);
    for (const f of reader.pushes('pub', 'project:recover')) expect(reader.frames.indexOf(f)).toBeGreaterThan(replyIndex);
  });

  it('one user with a tab on A and a tab on B is one presence member with two devices, on every node', async () => {
    const observer = await connect(c, 'pres-observer');
    await observer.call('subscribe', { channel: 'project:room' });
    const tabA = await connect(a, 'alice');
    const tabB = await connect(b, 'alice');
    for (const tab of [tabA, tabB]) {
      await tab.call('subscribe', { channel: 'project:room' });
      expect((await tab.call('presence_set', { channel: 'project:room', state: { page: tab === tabA ? 'a' : 'b' } })).error).toBeUndefined();
    }
    const joins = () => observer.pushes('join', 'project:room');
    await observer.until(() => joins().length === 2, 5000, 'two joins');
    const devices = [tabA.info['client'], tabB.info['client']].sort();
    expect(
      joins()
        .map((f) => (f['device'] as { client: string }).client)
        .sort(),
    ).toEqual(devices);
    for (const via of [a, b, c]) {
      const res = await api(via, 'GET', '/channels/project:room/presence');
      expect(res.status).toBe(200);
      const members = res.body['members'] as Array<{ user: string; devices: Array<{ client: string }> }>;
      expect(members.map((m) => m.user)).toEqual(['alice']);
      expect(members[0]?.devices.map((d) => d.client).sort()).toEqual(devices);
    }
    const stats = await observer.call('presence_stats', { channel: 'project:room' });
    expect(stats.result).toEqual({ users: 1, connections: 2 });
    tabA.close();
    await observer.waitFor((f) => f.push === 'leave' && f['channel'] === 'project:room');
    const after = await api(b, 'GET', '/channels/project:room/presence');
    expect((after.body['members'] as Array<{ devices: unknown[] }>)[0]?.devices).toHaveLength(1);
  });

  it('holds the per-user connection limit across nodes and frees the slot when a connection closes', async () => {
    const first = await connect(a, 'limited');
    await connect(b, 'limited');
    const third = await RawClient.open(c.url);
    clients.push(third);
    const refused = await third.call('connect', { token: await token('limited') });
    expect(refused.error).toMatchObject({ code: 106 });
    expect(await third.waitClose()).toBe(3503);
    first.close();
    await first.waitClose();
    // The slot comes back as soon as node A has released it.
    await eventually(
      async () => {
        const again = await RawClient.open(c.url);
        clients.push(again);
        const reply = await again.call('connect', { token: await token('limited') });
        return reply.error === undefined;
      },
      5000,
      'a free slot',
    );
  });

  it('the HTTP API of one node disconnects a user connected to another node', async () => {
    const victim = await connect(c, 'bob');
    const res = await api(a, 'POST', '/users/bob/disconnect', {});
    expect(res.status).toBeLessThan(300);
    expect(await victim.waitClose()).toBeGreaterThanOrEqual(3000);
  });

  it('answers history for the whole cluster from any node', async () => {
    const pub = await connect(a, 'hist-pub');
    for (let i = 1; i <= 3; i++) await pub.call('publish', { channel: 'chat:hist', data: i });
    const res = await api(c, 'GET', '/channels/chat:hist/history');
    expect(res.status).toBe(200);
    expect((res.body['publications'] as Array<{ data: number }>).map((p) => p.data)).toEqual([1, 2, 3]);
  });
});

describe('a node killed with -9', () => {
  const prefix = newPrefix('kill');
  let nodes: ClusterNode[] = [];
  const clients: RawClient[] = [];
  const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });

  beforeAll(async () => {
    nodes = await startCluster(['a', 'b', 'c'], { prefix, config: { limits: { connectionsPerUser: 1 } } });
  }, 30_000);

  afterAll(async () => {
    for (const client of clients) client.terminate();
    await stopAll(nodes);
    await dropPrefix(prefix);
    await admin.quit();
  }, 30_000);

  it('loses its members within the presence TTL; each leave is seen once, by every observer', async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const connect = async (node: ClusterNode, user: string) => {
      const client = await RawClient.connect(node.url, await token(user));
      clients.push(client);
      return client;
    };
    const observers = [await connect(b, 'obs-b'), await connect(c, 'obs-c')];
    for (const o of observers) await o.call('subscribe', { channel: 'project:crash' });
    const onA = [await connect(a, 'carol'), await connect(a, 'dan')];
    const onB = await connect(b, 'erin');
    for (const m of [...onA, onB]) {
      await m.call('subscribe', { channel: 'project:crash' });
      await m.call('presence_set', { channel: 'project:crash' });
    }
    const events = (o: RawClient, kind: string) => o.pushes(kind, 'project:crash').map((f) => (f['device'] as { client: string }).client);
    for (const o of observers) await o.until(() => events(o, 'join').length === 3, 5000, 'three joins');

    const killedAt = Date.now();
    await killHard(a);
    const gone = onA.map((m) => m.info['client'] as string).sort();
    for (const o of observers) await o.until(() => events(o, 'leave').length >= 2, 6000, 'two leaves');
    // Presence TTL 2 s; a survivor notices within a heartbeat (TTL/3) after it. The bound keeps
    // 4 s of slack for a loaded 2-core machine: it proves the TTL sweep, not a latency.
    expect(Date.now() - killedAt).toBeLessThan(2000 + 667 + 4000);
    // Wait until the dead node is forgotten (its sweep is complete), then prove no second leave comes.
    await eventually(async () => !(await admin.zrange(`${prefix}:nodes`, '0', '-1')).some((id) => id.startsWith('a-')), 5000, 'node a forgotten');
    const sentinel = await connect(c, 'frank');
    await sentinel.call('subscribe', { channel: 'project:crash' });
    await sentinel.call('presence_set', { channel: 'project:crash' });
    for (const o of observers) {
      await o.waitFor((f) => f.push === 'join' && (f['device'] as { client: string }).client === sentinel.info['client']);
      expect(events(o, 'leave').sort()).toEqual(gone);
    }
    const members = (await api(c, 'GET', '/channels/project:crash/presence')).body['members'] as Array<{ user: string }>;
    expect(members.map((m) => m.user).sort()).toEqual(['erin', 'frank']);
    // The dead node's connection slots are free again (limit 1 per user).
    const carolAgain = await connect(b, 'carol');
    expect(carolAgain.info['user']).toBe('carol');
    expect(b.alive() && c.alive()).toBe(true);
  });

  it('keeps serving publications between the survivors', async () => {
    const [, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const sub = await RawClient.connect(c.url, await token('after-sub'));
    const pub = await RawClient.connect(b.url, await token('after-pub'));
    clients.push(sub, pub);
    await sub.call('subscribe', { channel: 'project:after' });
    await pub.call('publish', { channel: 'project:after', data: 1 });
    const got: Frame = await sub.waitFor((f) => f.push === 'pub');
    expect(got['data']).toBe(1);
  });
});
