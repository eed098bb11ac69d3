/**
 * The Redis engine on a Redis Cluster and behind a Sentinel, against real redis-server
 * processes started for this file (free ports, temp dirs, killed by pid afterwards): the
 * engine conformance suites on a three-primary cluster, server processes configured with
 * `redisCluster` / `redisSentinels`, the pub/sub connection moving between cluster nodes,
 * and a Sentinel failover under a running engine.
 */
import { randomBytes } from 'node:crypto';
import { createRedisEngine, parseConfig, redisEngineOptions } from '@switchboard/server';
import type { BrokerHandler, StreamPublication } from '@switchboard/server/testing';
import {
  NodeRegistry,
  parseAddresses,
  type RedisAddress,
  RedisBroker,
  RedisConnection,
  RedisControlBus,
  RedisLimitStore,
  RedisNodeMessages,
  RedisPresenceStore,
  usesRedis,
} from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  describeBrokerConformance,
  describeControlBusConformance,
  describeLimitStoreConformance,
  describePresenceConformance,
} from '../../packages/server/test/engine/conformance.js';
import { RawClient } from '../helpers/raw-client.js';
import { api, type ClusterNode, startCluster, stopAll, token } from './cluster.js';
import { startRedisCluster, startSentinelSetup } from './redis-servers.js';

const WAIT = { timeout: 15_000, interval: 20 };
const opts = { historySize: 100, historyTtl: 60_000, idempotencyTtl: 60_000 };

class Recorder implements BrokerHandler {
  readonly pubs: StreamPublication[] = [];
  onPublication(_channel: string, pub: StreamPublication): void {
    this.pubs.push(pub);
  }
  onEvent(): void {}
}

/** The port of the node a named client connection of ours is on, among `ports`. */
async function portOfClient(ports: number[], name: string): Promise<number | undefined> {
  for (const port of ports) {
    const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    try {
      const list = (await r.client('LIST')) as string;
      if (list.split('\n').some((line) => line.includes(` name=${name} `))) return port;
    } finally {
      r.disconnect();
    }
  }
  return undefined;
}

async function killClient(port: number, name: string): Promise<void> {
  const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  try {
    const list = (await r.client('LIST')) as string;
    const id = list
      .split('\n')
      .find((line) => line.includes(` name=${name} `))
      ?.match(/^id=(\d+)/)?.[1];
    expect(id).toBeDefined();
    await r.client('KILL', 'ID', id as string);
  } finally {
    r.disconnect();
  }
}

describe('the Redis engine on a Redis Cluster of three primaries', () => {
  let rc: Awaited<ReturnType<typeof startRedisCluster>>;
  let seeds: RedisAddress[] = [];
  const prefix = `sbrc-${randomBytes(3).toString('hex')}`;
  const open = async (ttl = 15_000, p = prefix) => {
    const conn = await RedisConnection.open({ url: '', cluster: seeds, prefix: p, connectWait: 5000 });
    return { conn, registry: new NodeRegistry(conn, ttl) };
  };

  beforeAll(async () => {
    rc = await startRedisCluster(3);
    seeds = parseAddresses(rc.seeds);
  }, 60_000);

  afterAll(async () => {
    await rc?.stop();
  }, 30_000);

  describeBrokerConformance('redis cluster', async () => {
    const { conn } = await open();
    const broker = new RedisBroker(conn);
    return { broker, cleanup: () => broker.close() };
  });

  describePresenceConformance('redis cluster', async () => {
    const { conn, registry } = await open();
    const presence = new RedisPresenceStore(conn, registry);
    registry.start();
    return { presence, cleanup: () => presence.close() };
  });

  describeControlBusConformance('redis cluster', async () => {
    const { conn, registry } = await open(15_000, `${prefix}-cb`);
    const control = await RedisControlBus.create(conn, registry);
    return { control, cleanup: () => control.close() };
  });

  describeLimitStoreConformance('redis cluster', async () => {
    const { conn, registry } = await open();
    const limits = new RedisLimitStore(conn, registry);
    registry.start();
    return { limits, cleanup: () => limits.close() };
  });

  it("spread the suites' keys over every primary (each script's keys in one slot)", async () => {
    for (const n of rc.nodes) {
      const r = new Redis({ port: n.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      try {
        const [, keys] = await r.scan('0', 'MATCH', `${prefix}:*`, 'COUNT', 10_000);
        expect(keys.length, `keys on ${n.port}`).toBeGreaterThan(0);
      } finally {
        r.disconnect();
      }
    }
  });

  it("sends every control command and node note of a topic through the one node that owns the topic's slot, so they cannot overtake each other", async () => {
    const publishes = async (): Promise<number[]> =>
      Promise.all(
        rc.nodes.map(async (n) => {
          const r = new Redis({ port: n.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
          try {
            const stats = await r.info('commandstats');
            return Number(stats.match(/cmdstat_publish:calls=(\d+)/)?.[1] ?? 0);
          } finally {
            r.disconnect();
          }
        }),
      );
    const { conn, registry } = await open(15_000, `${prefix}-order`);
    const control = await RedisControlBus.create(conn, registry);
    const notes = await RedisNodeMessages.create(conn, registry);
    const tenant = `t${prefix}`;
    const count = 60;
    const sent = async (send: (i: number) => Promise<void>): Promise<number[]> => {
      const before = await publishes();
      for (let i = 0; i < count / 2; i++) await send(i);
      await Promise.all(Array.from({ length: count / 2 }, (_, i) => send(i)));
      const after = await publishes();
      return after.map((v, i) => v - (before[i] as number)).sort((x, y) => y - x);
    };
    const commands = await sent((i) => control.publish({ kind: 'disconnect', tenant, user: `u${i}`, code: 3008, reason: 'r' }));
    expect(commands[0]).toBeGreaterThanOrEqual(count);
    expect(
      commands.slice(1).every((d) => d < count / 4),
      `PUBLISH calls per node: ${commands.join(', ')}`,
    ).toBe(true);
    const broadcast = await sent((i) => notes.notify('order-check', { i }));
    expect(broadcast[0]).toBeGreaterThanOrEqual(count);
    expect(
      broadcast.slice(1).every((d) => d < count / 4),
      `PUBLISH calls per node: ${broadcast.join(', ')}`,
    ).toBe(true);
    await notes.close();
    await control.close();
  });

  it('moves the pub/sub connection to another node when it is dropped, and delivers what was published meanwhile, in order, once', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const [ba, bb] = [new RedisBroker(a.conn), new RedisBroker(b.conn)];
    const rec = new Recorder();
    bb.setHandler(rec);
    const ch = `t${prefix}|project:moving`;
    await bb.subscribe(ch);
    await ba.publish(ch, '0', opts);
    await vi.waitFor(() => expect(rec.pubs.map((p) => p.offset)).toEqual([1]), WAIT);
    const ports = rc.nodes.map((n) => n.port);
    const name = `sb:${prefix}:${b.conn.nodeId}:sub`;
    const before = await portOfClient(ports, name);
    expect(before).toBeDefined();
    await killClient(before as number, name);
    for (let i = 1; i <= 30; i++) await ba.publish(ch, String(i), opts);
    await vi.waitFor(() => expect(rec.pubs.map((p) => p.offset)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1)), WAIT);
    const after = await portOfClient(ports, name);
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    await vi.waitFor(() => expect(bb.ready()).toBe(true), WAIT);
    await Promise.all([ba.close(), bb.close()]);
  });

  /** The port of the primary that holds `key`'s slot. */
  async function primaryOf(key: string): Promise<number> {
    const r = new Redis({ port: rc.nodes[0]?.port as number, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    try {
      const slot = Number(await r.call('CLUSTER', 'KEYSLOT', key));
      const ranges = (await r.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      return Number(range?.[2][1]);
    } finally {
      r.disconnect();
    }
  }

  it("takes a publisher's rate bucket without holding the publish back once the node expects it to succeed, and the limit still holds", async () => {
    const { conn, registry } = await open();
    registry.start();
    await vi.waitFor(() => expect(conn.clock.now()).not.toBeNull(), WAIT);
    const broker = new RedisBroker(conn, { limits: new RedisLimitStore(conn, registry), positionCheck: 0 });
    // A user's bucket on another primary than the channel's stream.
    const user = `carol-${randomBytes(3).toString('hex')}`;
    const rateLimit = { bucket: `pub|acme|${user}`, ratePerSecond: 0.001, burst: 3 };
    const bucketPort = await primaryOf(conn.keys.bucket(rateLimit.bucket));
    let ch = '';
    for (let i = 0; i < 100 && (ch === '' || (await primaryOf(conn.keys.stream(ch))) === bucketPort); i++) ch = `acme|project:bucket-${i}`;
    expect(await primaryOf(conn.keys.stream(ch))).not.toBe(bucketPort);
    // The first take is waited for (no expectation yet).
    expect((await broker.publish(ch, '1', { ...opts, rateLimit })).offset).toBe(1);
    // The bucket's primary stops answering writes: a publish that waited for its take would not resolve.
    const paused = new Redis({ port: bucketPort, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    await paused.call('CLIENT', 'PAUSE', '10000', 'WRITE');
    let second: { offset: number } | 'held back';
    try {
      second = await Promise.race([
        broker.publish(ch, '2', { ...opts, rateLimit }),
        new Promise<'held back'>((resolve) => setTimeout(() => resolve('held back'), 3000)),
      ]);
    } finally {
      await paused.call('CLIENT', 'UNPAUSE');
      paused.disconnect();
    }
    expect(second).toMatchObject({ offset: 2 });
    // The third token; the fourth is refused (the node expects it, and the take confirms).
    expect((await broker.publish(ch, '3', { ...opts, rateLimit })).offset).toBe(3);
    await expect(broker.publish(ch, '4', { ...opts, rateLimit })).rejects.toMatchObject({ name: 'RateLimited' });
    // Another node spent nothing, and the bucket holds exactly three takes.
    const other = await open();
    const limits = new RedisLimitStore(other.conn, other.registry);
    expect(await limits.take(rateLimit.bucket, rateLimit.ratePerSecond, rateLimit.burst)).toBe(false);
    expect((await broker.history(ch, { limit: 10 })).publications.map((p) => p.data)).toEqual(['1', '2', '3']);
    await limits.close();
    await broker.close();
  });

  describe('three server processes configured with redisCluster', () => {
    const nodePrefix = `${prefix}-srv`;
    let nodes: ClusterNode[] = [];
    const clients: RawClient[] = [];

    beforeAll(async () => {
      nodes = await startCluster(['a', 'b', 'c'], { prefix: nodePrefix, config: { redis: undefined, redisCluster: rc.seeds } });
    }, 30_000);

    afterAll(async () => {
      for (const c of clients) c.terminate();
      await stopAll(nodes);
    }, 30_000);

    it('fan out, share presence and list channels across nodes', async () => {
      const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
      const connect = async (node: ClusterNode, user: string) => {
        const client = await RawClient.connect(node.url, await token(user));
        clients.push(client);
        return client;
      };
      const pub = await connect(a, 'rc-pub');
      const subs = [await connect(b, 'rc-b'), await connect(c, 'rc-c')];
      for (const s of subs) {
        expect((await s.call('subscribe', { channel: 'project:rc' })).error).toBeUndefined();
        expect((await s.call('presence_set', { channel: 'project:rc' })).error).toBeUndefined();
      }
      for (let i = 1; i <= 20; i++) expect((await pub.call('publish', { channel: 'project:rc', data: i })).result).toMatchObject({ offset: i });
      for (const s of subs) {
        await s.until(() => s.pushes('pub', 'project:rc').length === 20, 5000, '20 publications');
        expect(s.pushes('pub', 'project:rc').map((f) => f['offset'])).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      }
      expect((await api(a, 'GET', '/channels/project:rc/presence/stats')).body).toEqual({ users: 2, connections: 2 });
      expect((await api(a, 'GET', '/channels')).body).toEqual({
        channels: [{ channel: 'project:rc', subscribers: 2, publishRate: expect.any(Number) }],
        nodes: 3,
        complete: true,
      });
    });
  });
});

describe('the Redis engine behind a Sentinel', () => {
  let rs: Awaited<ReturnType<typeof startSentinelSetup>>;
  const prefix = `sbrs-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    rs = await startSentinelSetup();
  }, 60_000);

  afterAll(async () => {
    await rs?.stop();
  }, 30_000);

  it('server processes configured with redisSentinels share one master', async () => {
    const nodes = await startCluster(['a', 'b'], {
      prefix: `${prefix}-srv`,
      config: { redis: undefined, redisSentinels: rs.sentinels, redisSentinelMaster: 'mymaster' },
    });
    const clients: RawClient[] = [];
    try {
      const [a, b] = nodes as [ClusterNode, ClusterNode];
      const sub = await RawClient.connect(b.url, await token('rs-sub'));
      const pub = await RawClient.connect(a.url, await token('rs-pub'));
      clients.push(sub, pub);
      await sub.call('subscribe', { channel: 'project:rs' });
      await pub.call('publish', { channel: 'project:rs', data: 'via sentinel' });
      expect((await sub.waitFor((f) => f.push === 'pub'))['data']).toBe('via sentinel');
      const master = new Redis({ port: rs.master.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      try {
        expect((await master.keys(`${prefix}-srv:*`)).length).toBeGreaterThan(0);
      } finally {
        master.disconnect();
      }
    } finally {
      for (const c of clients) c.terminate();
      await stopAll(nodes);
    }
  });

  it('follows a failover to the promoted replica; acknowledged publications keep their offsets and epoch', async () => {
    const config = parseConfig({ redisSentinels: rs.sentinels, redisSentinelMaster: 'mymaster', redisPrefix: prefix, timeouts: { presenceTtl: '30s' } });
    expect(usesRedis(config)).toBe(true);
    const engine = await createRedisEngine(redisEngineOptions(config));
    const admin = new Redis({ port: rs.master.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    const sentinel = new Redis({ port: rs.sentinel.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    try {
      const ch = `t${prefix}|project:failover`;
      const first = [];
      for (let i = 1; i <= 3; i++) first.push(await engine.broker.publish(ch, String(i), opts));
      expect(first.map((o) => o.offset)).toEqual([1, 2, 3]);
      // Acknowledged writes reached the replica before the failover is asked for.
      expect(await admin.call('WAIT', '1', '5000')).toBe(1);
      await sentinel.call('SENTINEL', 'FAILOVER', 'mymaster');
      await vi.waitFor(async () => {
        const [, port] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')) as [string, string];
        expect(Number(port)).toBe(rs.replica.port);
      }, WAIT);
      // The engine moves to the new master by itself, and is ready there.
      await vi.waitFor(async () => expect(await nodeIdOf(rs.replica.port, prefix)).toBeDefined(), WAIT);
      await vi.waitFor(() => expect(engine.broker.ready()).toBe(true), WAIT);
      // Publishes continue the same stream: the replicated meta and history came along.
      const next = await vi.waitFor(async () => engine.broker.publish(ch, '4', opts), WAIT);
      expect(next).toMatchObject({ offset: 4, epoch: first[0]?.epoch });
      const page = await engine.broker.history(ch, { limit: 10 });
      expect(page.publications.map((p) => p.data)).toEqual(['1', '2', '3', '4']);
    } finally {
      await Promise.all([engine.broker.close(), engine.presence.close(), engine.control.close(), engine.limits.close()]);
      admin.disconnect();
      sentinel.disconnect();
    }
  });
});

/** The node id in the name of one of our command connections on a Redis server. */
async function nodeIdOf(port: number, prefix: string): Promise<string | undefined> {
  const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  try {
    const list = (await r.client('LIST')) as string;
    return new RegExp(` name=sb:${prefix}:(\\S+):cmd `).exec(list)?.[1];
  } finally {
    r.disconnect();
  }
}
