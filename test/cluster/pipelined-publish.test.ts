/**
 * Publishes of one connection overlap on the Redis engine (real node processes, real Redis
 * through a proxy of the test's own): many in flight, acknowledged in order with
 * consecutive offsets, refused with 116 and never acknowledged-then-lost when Redis goes
 * away under them, and the cluster-wide per-user publish limit still holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Frame, RawClient } from '../helpers/raw-client.js';
import { api, type ClusterNode, dropPrefix, eventually, newPrefix, readyz, startCluster, stopAll, token } from './cluster.js';
import { RedisProxy } from './redis-proxy.js';

/** Send `n` publishes, 100 frames per WebSocket message, without waiting; resolve with their replies in arrival order. */
async function burst(c: RawClient, channel: string, n: number, tag: string): Promise<Frame[]> {
  const first = c.frames.length;
  const ids: number[] = [];
  const frames = Array.from({ length: n }, (_, i) => {
    const id = 1_000_000 + Math.floor(Math.random() * 1e9);
    ids.push(id);
    return JSON.stringify({ id, method: 'publish', params: { channel, data: { tag, i } } });
  });
  for (let i = 0; i < frames.length; i += 100) c.sendRaw(frames.slice(i, i + 100).join('\n'));
  const wanted = new Set(ids);
  await c.until(() => c.frames.slice(first).filter((f) => f.id !== undefined && wanted.has(f.id)).length === n, 20_000, `${n} replies`);
  const replies = c.frames.slice(first).filter((f) => f.id !== undefined && wanted.has(f.id));
  expect(replies.map((f) => f.id)).toEqual(ids);
  return replies;
}

describe('pipelined publishes on the Redis engine', () => {
  const prefix = newPrefix('pipelined');
  let proxy: RedisProxy;
  let nodes: ClusterNode[] = [];
  const clients: RawClient[] = [];

  beforeAll(async () => {
    proxy = await RedisProxy.start();
    nodes = await startCluster(['a', 'b'], {
      prefix,
      redisUrl: proxy.url,
      config: {
        limits: { commandsPerSecond: 1_000_000, publishPerSecondPerConnection: 1_000_000, eventsPerMinutePerUser: 6000 },
      },
    });
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.terminate();
    await stopAll(nodes);
    await proxy.close();
    await dropPrefix(prefix);
  }, 30_000);

  const connect = async (node: ClusterNode, user: string) => {
    const c = await RawClient.connect(node.url, await token(user));
    clients.push(c);
    return c;
  };

  it('50 publishes in flight on one connection are acknowledged in order with consecutive offsets, and delivered so', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const pub = await connect(a, 'pipe-pub');
    const sub = await connect(b, 'pipe-sub');
    await sub.call('subscribe', { channel: 'project:pipe' });
    const replies = await burst(pub, 'project:pipe', 50, 'x');
    expect(replies.every((f) => f.error === undefined)).toBe(true);
    expect(replies.map((f) => f.result?.['offset'])).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await sub.until(() => sub.pushes('pub', 'project:pipe').length === 50, 10_000, '50 deliveries');
    expect(sub.pushes('pub', 'project:pipe').map((f) => (f['data'] as { i: number }).i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('300 publishes in flight (beyond the 64 running at once) keep arrival order, offsets and deliveries', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const pub = await connect(a, 'pipe-window');
    const sub = await connect(b, 'pipe-window-sub');
    await sub.call('subscribe', { channel: 'project:window' });
    const replies = await burst(pub, 'project:window', 300, 'w');
    expect(replies.every((f) => f.error === undefined)).toBe(true);
    expect(replies.map((f) => f.result?.['offset'])).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    await sub.until(() => sub.pushes('pub', 'project:window').length === 300, 10_000, '300 deliveries');
    expect(sub.pushes('pub', 'project:window').map((f) => (f['data'] as { i: number }).i)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it('a serial command after pipelined publishes waits for them: history sees every one', async () => {
    const [a] = nodes as [ClusterNode];
    const c = await connect(a, 'pipe-history');
    const frames = [
      ...Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: 100 + i, method: 'publish', params: { channel: 'project:ph', data: i } })),
      JSON.stringify({ id: 500, method: 'history', params: { channel: 'project:ph', limit: 100 } }),
    ];
    c.sendRaw(frames.join('\n'));
    const history = await c.waitFor((f) => f.id === 500, 10_000);
    expect(history.result?.['offset']).toBe(20);
    const order = c.frames.filter((f) => f.id !== undefined && f.id >= 100).map((f) => f.id);
    expect(order).toEqual([...Array.from({ length: 20 }, (_, i) => 100 + i), 500]);
  });

  it('Redis gone with publishes in flight: each is refused with 116 or acknowledged and stored, never acknowledged and lost', async () => {
    const [a] = nodes as [ClusterNode];
    const c = await connect(a, 'pipe-cut');
    await burst(c, 'project:cut', 5, 'before');
    proxy.stall();
    const first = c.frames.length;
    const frames = Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: 2000 + i, method: 'publish', params: { channel: 'project:cut', data: i } }));
    c.sendRaw(frames.join('\n'));
    await eventually(() => proxy.connections > 0, 5000, 'connections held');
    proxy.cut();
    await c.until(() => c.frames.slice(first).filter((f) => f.id !== undefined && f.id >= 2000).length === 40, 20_000, '40 replies');
    const replies = c.frames.slice(first).filter((f) => f.id !== undefined && f.id >= 2000);
    expect(replies.map((f) => f.id)).toEqual(Array.from({ length: 40 }, (_, i) => 2000 + i));
    const acked = replies.filter((f) => f.error === undefined).map((f) => f.result?.['offset'] as number);
    for (const f of replies) if (f.error) expect(f.error).toMatchObject({ code: 116, temporary: true });
    expect(replies.filter((f) => f.error).length).toBeGreaterThan(0);
    proxy.restore();
    await eventually(async () => (await Promise.all(nodes.map(readyz))).every((s) => s === 200), 20_000, 'ready again');
    const history = await api(a, 'GET', '/channels/project:cut/history?limit=100');
    const stored = new Set((history.body['publications'] as Array<{ offset: number }>).map((p) => p.offset));
    for (const offset of acked) expect(stored.has(offset)).toBe(true);
  }, 60_000);

  it('the per-user publish limit holds across nodes under pipelined load', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    // 6000 per minute: 100 per second, burst 1000, shared by every connection of the user on every node.
    const started = Date.now();
    const [onA, onB] = [await connect(a, 'pipe-limited'), await connect(b, 'pipe-limited')];
    const [ra, rb] = await Promise.all([burst(onA, 'project:lim', 800, 'a'), burst(onB, 'project:lim', 800, 'b')]);
    const elapsed = (Date.now() - started) / 1000;
    const accepted = [...ra, ...rb].filter((f) => f.error === undefined).length;
    const refused = [...ra, ...rb].filter((f) => f.error !== undefined);
    expect(refused.every((f) => f.error?.code === 111)).toBe(true);
    expect(accepted).toBeGreaterThanOrEqual(1000);
    expect(accepted).toBeLessThanOrEqual(1000 + Math.ceil(100 * elapsed) + 1);
  }, 60_000);
});
