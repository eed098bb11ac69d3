/**
 * Redis taken away from a running three-node cluster, through a proxy of the test's own
 * (the machine's Redis is never stopped or paused): nodes stay up, say they are unready,
 * refuse publishes with a temporary error, reconnect by themselves, and nothing that was
 * acknowledged is lost or delivered twice.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { api, type ClusterNode, dropPrefix, eventually, newPrefix, REDIS_URL, readyz, startCluster, stopAll, token } from './cluster.js';
import { RedisProxy } from './redis-proxy.js';

const CHANNEL = 'project:outage';
const offsets = (c: RawClient) => c.pushes('pub', CHANNEL).map((f) => f['offset'] as number);

describe('Redis outage under traffic', () => {
  const prefix = newPrefix('outage');
  const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let proxy: RedisProxy;
  let nodes: ClusterNode[] = [];
  let a: ClusterNode;
  let b: ClusterNode;
  let c: ClusterNode;
  let pub: RawClient;
  let subs: RawClient[] = [];
  const clients: RawClient[] = [];
  const acked: number[] = [];
  const refused: Array<{ code: number; temporary: boolean }> = [];
  let n = 0;

  /** Publish one message; record its offset or its error (then back off a little, as a client would). */
  async function publishOne(): Promise<void> {
    const reply = await pub.call('publish', { channel: CHANNEL, data: { n: ++n } }, 10_000);
    if (reply.error) {
      refused.push(reply.error);
      await new Promise((r) => setTimeout(r, 20));
    } else {
      acked.push(reply.result?.['offset'] as number);
    }
  }

  /** Keep publishing until `done` resolves (sequentially, as an app would). */
  async function traffic(done: Promise<unknown>): Promise<void> {
    let stop = false;
    void done.finally(() => {
      stop = true;
    });
    while (!stop) await publishOne();
  }

  const allReady = async (status: number) => (await Promise.all(nodes.map(readyz))).every((s) => s === status);

  /** Every acknowledged publication reached every subscriber, in order, exactly once. */
  async function expectNothingLost(): Promise<void> {
    const sentinel = `sentinel-${++n}`;
    expect((await pub.call('publish', { channel: CHANNEL, data: sentinel })).error).toBeUndefined();
    for (const s of subs) {
      await s.waitFor((f) => f.push === 'pub' && f['data'] === sentinel, 10_000);
      const got = offsets(s);
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i + 1));
      for (const o of acked) expect(got).toContain(o);
    }
  }

  beforeAll(async () => {
    proxy = await RedisProxy.start();
    nodes = await startCluster(['a', 'b', 'c'], {
      prefix,
      redisUrl: proxy.url,
      config: {
        // The publisher goes as fast as it can: no rate limit may be what refuses it.
        limits: { connectionsPerUser: 1, commandsPerSecond: 1_000_000, publishPerSecondPerConnection: 1_000_000, eventsPerMinutePerUser: 100_000_000 },
      },
    });
    [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    pub = await RawClient.connect(a.url, await token('outage-pub'));
    subs = [await RawClient.connect(b.url, await token('outage-b')), await RawClient.connect(c.url, await token('outage-c'))];
    clients.push(pub, ...subs);
    for (const s of subs) await s.call('subscribe', { channel: CHANNEL });
  }, 30_000);

  afterAll(async () => {
    for (const client of clients) client.terminate();
    await stopAll(nodes);
    await proxy.close();
    await dropPrefix(prefix);
    await admin.quit();
  }, 30_000);

  it('Redis down: unready, publishes refused as temporary, back by itself, nothing acknowledged lost', async () => {
    // State from before the outage that must survive it: a presence member and a held slot.
    const member = await RawClient.connect(a.url, await token('held'));
    clients.push(member);
    await member.call('subscribe', { channel: 'project:kept' });
    await member.call('presence_set', { channel: 'project:kept' });

    let endTraffic!: () => void;
    const running = traffic(
      new Promise<void>((r) => {
        endTraffic = r;
      }),
    );
    await eventually(() => acked.length >= 20, 15_000, 'traffic before the outage');

    proxy.cut();
    await eventually(() => allReady(503), 15_000, '/readyz 503 on every node');
    const refusedBefore = refused.length;
    await eventually(() => refused.length >= refusedBefore + 3, 15_000, 'publishes refused during the outage');
    expect(refused.every((e) => e.code === 116 && e.temporary)).toBe(true);
    const http = await api(b, 'POST', '/publish', { channel: CHANNEL, data: 'via http' });
    expect(http.status).toBe(503);
    // Outlast the presence TTL (2 s): every node's registration expires, so once Redis is
    // back each takes the others for dead, sweeps them, and each restores its own state.
    await eventually(
      async () => {
        const [seconds, micros] = (await admin.time()) as [string | number, string | number];
        const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
        return (await admin.zcount(`${prefix}:nodes`, '-inf', now)) === 3;
      },
      15_000,
      'every registration expired',
    );

    proxy.restore();
    await eventually(() => allReady(200), 20_000, '/readyz 200 on every node');
    const ackedBefore = acked.length;
    await eventually(() => acked.length >= ackedBefore + 20, 20_000, 'traffic after the outage');
    endTraffic();
    await running;
    await expectNothingLost();

    // The member and its slot are back after the sweep-and-restore round trip.
    await eventually(
      async () => {
        const res = await api(c, 'GET', '/channels/project:kept/presence');
        return (res.body['members'] as Array<{ user: string }> | undefined)?.some((m) => m.user === 'held') ?? false;
      },
      20_000,
      'presence restored',
    );
    await eventually(async () => (await admin.hget(`${prefix}:lim:{acme}:u`, 'held')) === '1', 20_000, 'slot restored');
    const second = await RawClient.open(b.url);
    clients.push(second);
    expect((await second.call('connect', { token: await token('held') })).error).toMatchObject({ code: 106 });
    expect(nodes.every((node) => node.alive())).toBe(true);
  }, 120_000);

  it('Redis not answering: unready, publishes fail as temporary after the command timeout, back by itself', async () => {
    const before = { acked: acked.length, refused: refused.length };
    proxy.stall();
    await eventually(() => allReady(503), 8000, '/readyz 503 while Redis does not answer');
    await publishOne();
    expect(refused.length).toBe(before.refused + 1);
    expect(refused.at(-1)).toMatchObject({ code: 116, temporary: true });
    proxy.restore();
    await eventually(() => allReady(200), 15_000, '/readyz 200 again');
    await eventually(
      async () => {
        await publishOne();
        return acked.length > before.acked;
      },
      20_000,
      'a publish accepted again',
    );
    await expectNothingLost();
    expect(nodes.every((node) => node.alive())).toBe(true);
  }, 120_000);

  it('every Redis connection of every node killed under traffic: reconnect, nothing acknowledged lost', async () => {
    let endTraffic!: () => void;
    const running = traffic(
      new Promise<void>((r) => {
        endTraffic = r;
      }),
    );
    const start = acked.length;
    await eventually(() => acked.length >= start + 10, 15_000, 'traffic');
    const list = (await admin.client('LIST')) as string;
    const ids = list
      .split('\n')
      .filter((line) => line.includes(` name=sb:${prefix}:`))
      .map((line) => /^id=(\d+)/.exec(line)?.[1] as string);
    expect(ids).toHaveLength(6);
    for (const id of ids) await admin.client('KILL', 'ID', id);
    await eventually(() => acked.length >= start + 40, 20_000, 'traffic after the kill');
    endTraffic();
    await running;
    await expectNothingLost();
    expect(nodes.every((node) => node.alive())).toBe(true);
  }, 120_000);
});
