/**
 * What the cluster answers as a whole, with three server processes on the real Redis: the
 * channel list of the HTTP API (a survey of the live nodes) and the presence member cap
 * (checked and set atomically in Redis, so nodes cannot race past it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { api, type ClusterNode, dropPrefix, eventually, killHard, newPrefix, startCluster, stopAll, token } from './cluster.js';

interface ChannelList {
  channels: Array<{ channel: string; subscribers: number; publishRate: number }>;
  nodes: number;
  complete: boolean;
}

const list = async (node: ClusterNode, query = ''): Promise<ChannelList> => {
  const res = await api(node, 'GET', `/channels${query}`);
  expect(res.status).toBe(200);
  return res.body as unknown as ChannelList;
};

describe('channel list of a cluster of three nodes', () => {
  const prefix = newPrefix('chlist');
  let nodes: ClusterNode[] = [];
  const clients: RawClient[] = [];
  const connect = async (node: ClusterNode, user: string, tenant = 'acme') => {
    const client = await RawClient.connect(node.url, await token(user, tenant));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    nodes = await startCluster(['a', 'b', 'c'], { prefix });
  }, 30_000);

  afterAll(async () => {
    for (const client of clients) client.terminate();
    await stopAll(nodes);
    await dropPrefix(prefix);
  }, 30_000);

  it('lists from node A the channels subscribed on B and C, with subscribers and publish rates summed over nodes', async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    expect(await list(a)).toEqual({ channels: [], nodes: 3, complete: true });
    const onB = [await connect(b, 'u1'), await connect(b, 'u2')];
    const onC = [await connect(c, 'u3'), await connect(c, 'u4')];
    const other = await connect(c, 'u5', 'globex');
    for (const s of [...onB, onC[0] as RawClient]) expect((await s.call('subscribe', { channel: 'project:shared' })).error).toBeUndefined();
    await onC[1]?.call('subscribe', { channel: 'chat:only-c' });
    await onB[0]?.call('subscribe', { channel: 'project:only-b' });
    await other.call('subscribe', { channel: 'project:shared' });
    // Subscribed means listed: no refresh interval to wait for.
    expect(await list(a)).toEqual({
      channels: [
        { channel: 'chat:only-c', subscribers: 1, publishRate: 0 },
        { channel: 'project:only-b', subscribers: 1, publishRate: 0 },
        { channel: 'project:shared', subscribers: 3, publishRate: 0 },
      ],
      nodes: 3,
      complete: true,
    });
    expect((await list(b, '?prefix=project:')).channels).toEqual([
      { channel: 'project:only-b', subscribers: 1, publishRate: 0 },
      { channel: 'project:shared', subscribers: 3, publishRate: 0 },
    ]);
    // Another tenant's subscriber is counted in its own tenant only.
    const globex = await api(a, 'GET', '/channels', undefined, 'globex');
    expect(globex.body['channels']).toEqual([{ channel: 'project:shared', subscribers: 1, publishRate: 0 }]);

    await onB[1]?.call('unsubscribe', { channel: 'project:shared' });
    expect((await list(a, '?prefix=project:shared')).channels).toEqual([{ channel: 'project:shared', subscribers: 2, publishRate: 0 }]);
    // Publish rates are summed over the nodes that accepted the publications: 10 on B and 10 on C, read from A.
    for (const node of [b, c])
      for (let i = 0; i < 10; i++) expect((await api(node, 'POST', '/publish', { channel: 'project:shared', data: { i } })).status).toBe(200);
    const rates = await list(a);
    const shared = rates.channels.find((ch) => ch.channel === 'project:shared');
    // Over 1/s only if both nodes' counts are in it (each accepted 10 within the 10 s window).
    expect(shared?.publishRate).toBeGreaterThan(1);
    expect(shared?.publishRate).toBeLessThanOrEqual(2);
    expect(rates.channels.find((ch) => ch.channel === 'chat:only-c')?.publishRate).toBe(0);

    for (const s of [...onB, ...onC, other]) s.close();
    await eventually(async () => (await list(a)).channels.length === 0, 5000, 'an empty channel list');
    expect(await list(c)).toEqual({ channels: [], nodes: 3, complete: true });
  });

  it('drops the channels of a node killed with -9 at once, and answers complete again within the presence TTL', async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const onB = await connect(b, 'k1');
    const onC = [await connect(c, 'k2'), await connect(c, 'k3')];
    await onB.call('subscribe', { channel: 'project:crash' });
    for (const s of onC) await s.call('subscribe', { channel: 'project:crash' });
    await onC[0]?.call('subscribe', { channel: 'project:on-c' });
    expect((await list(a)).channels).toEqual([
      { channel: 'project:crash', subscribers: 3, publishRate: 0 },
      { channel: 'project:on-c', subscribers: 1, publishRate: 0 },
    ]);
    const killedAt = Date.now();
    await killHard(c);
    // C is still registered (its heartbeat has not expired): it is waited for, a bounded time.
    const started = Date.now();
    const during = await list(a);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(during.channels).toEqual([{ channel: 'project:crash', subscribers: 1, publishRate: 0 }]);
    // C's registration outlives its last heartbeat by at least TTL − TTL/3 ≈ 1.3 s: asked before that, it is still expected.
    if (started - killedAt < 1300) expect(during).toMatchObject({ nodes: 2, complete: false });
    // Presence TTL 2 s: then C is no longer expected, and the answer is complete without it.
    await eventually(async () => (await list(a)).complete, 2000 + 667 + 2000, 'a complete list without node c');
    expect(Date.now() - killedAt).toBeLessThan(2000 + 667 + 2000);
    expect(await list(b)).toEqual({ channels: [{ channel: 'project:crash', subscribers: 1, publishRate: 0 }], nodes: 2, complete: true });
  });
});

describe('presence member cap across three nodes', () => {
  const prefix = newPrefix('pcap');
  const CAP = 4;
  let nodes: ClusterNode[] = [];
  const clients: RawClient[] = [];

  beforeAll(async () => {
    nodes = await startCluster(['a', 'b', 'c'], { prefix, config: { limits: { maxPresenceMembers: CAP } } });
  }, 30_000);

  afterAll(async () => {
    for (const client of clients) client.terminate();
    await stopAll(nodes);
    await dropPrefix(prefix);
  }, 30_000);

  it('concurrent joins from three nodes never admit more than maxPresenceMembers', async () => {
    const perNode = 4;
    const racers: RawClient[] = [];
    for (const node of nodes) {
      for (let i = 0; i < perNode; i++) {
        const client = await RawClient.connect(node.url, await token(`racer-${node.name}-${i}`));
        clients.push(client);
        racers.push(client);
      }
    }
    // Several rounds, each on a fresh channel: one lucky round must not hide a race.
    for (let round = 0; round < 6; round++) {
      const channel = `project:race-${round}`;
      for (const r of racers) expect((await r.call('subscribe', { channel })).error).toBeUndefined();
      const ids = racers.map((r) => r.send('presence_set', { channel, state: { round } }));
      const replies = await Promise.all(racers.map((r, i) => r.waitFor((f) => f.id === ids[i])));
      const admitted = replies.filter((f) => f.error === undefined).length;
      const refused = replies.filter((f) => (f.error as { code?: number } | undefined)?.code === 106).length;
      expect({ round, admitted, refused }).toEqual({ round, admitted: CAP, refused: racers.length - CAP });
      const stats = await api(nodes[round % 3] as ClusterNode, 'GET', `/channels/${channel}/presence/stats`);
      expect(stats.body).toEqual({ users: CAP, connections: CAP });
      // An admitted member may update its state at the cap; a refused one stays refused.
      const member = racers[replies.findIndex((f) => f.error === undefined)] as RawClient;
      expect((await member.call('presence_set', { channel, state: { round, again: true } })).error).toBeUndefined();
      const outsider = racers[replies.findIndex((f) => f.error !== undefined)] as RawClient;
      expect((await outsider.call('presence_set', { channel, state: {} })).error).toMatchObject({ code: 106 });
      // A member that leaves frees its place for the next one.
      expect((await member.call('presence_leave', { channel })).error).toBeUndefined();
      expect((await outsider.call('presence_set', { channel, state: {} })).error).toBeUndefined();
    }
  });
});
