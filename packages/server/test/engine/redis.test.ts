/**
 * The engine conformance suites against the Redis engine (a real Redis at REDIS_URL or
 * 127.0.0.1:6379, a key prefix of its own per run), plus what only a shared engine does:
 * fan-out between nodes, catch-up after a lost pub/sub connection, dead-node sweeping.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { dropPrefix } from '../../../../test/cluster/drop-prefix.js';
import type { BrokerHandler, ChannelEvent, StreamLoss, StreamPublication } from '../../src/engine/broker.js';
import { RedisConnection } from '../../src/engine/redis/connection.js';
import { NodeRegistry } from '../../src/engine/redis/node-registry.js';
import { RedisBroker } from '../../src/engine/redis/redis-broker.js';
import { RedisControlBus } from '../../src/engine/redis/redis-control-bus.js';
import { createRedisEngine } from '../../src/engine/redis/redis-engine.js';
import { RedisLeaseStore } from '../../src/engine/redis/redis-lease-store.js';
import { RedisLimitStore } from '../../src/engine/redis/redis-limit-store.js';
import { RedisNodeMessages } from '../../src/engine/redis/redis-node-messages.js';
import { RedisPresenceStore } from '../../src/engine/redis/redis-presence.js';
import { describeBrokerConformance, describeControlBusConformance, describeLimitStoreConformance, describePresenceConformance } from './conformance.js';
import { describeLeaseStoreConformance } from './lease-conformance.js';
import { describeNodeMessagesConformance } from './node-messages-conformance.js';

const URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `sbtest-${randomBytes(4).toString('hex')}`;
const WAIT = { timeout: 8_000, interval: 10 };
const admin = new Redis(URL, { lazyConnect: false, maxRetriesPerRequest: 1 });

const open = (ttl = 15_000) =>
  RedisConnection.open({ url: URL, prefix: PREFIX, connectWait: 3000 }).then((conn) => {
    const registry = new NodeRegistry(conn, ttl);
    return { conn, registry };
  });

afterAll(async () => {
  // Leave nothing of this run behind in the shared Redis.
  await dropPrefix(URL, PREFIX);
  await dropPrefix(URL, `${PREFIX}-cb`);
  await admin.quit();
});

describeBrokerConformance('redis', async () => {
  const { conn } = await open();
  const broker = new RedisBroker(conn);
  return { broker, cleanup: () => broker.close() };
});

describePresenceConformance('redis', async () => {
  const { conn, registry } = await open();
  const presence = new RedisPresenceStore(conn, registry);
  registry.start();
  return { presence, cleanup: () => presence.close() };
});

describeControlBusConformance('redis', async () => {
  // A prefix of its own: a channel survey waits for every live node under the prefix.
  const conn = await RedisConnection.open({ url: URL, prefix: `${PREFIX}-cb`, connectWait: 3000 });
  const control = await RedisControlBus.create(conn, new NodeRegistry(conn, 15_000));
  return { control, cleanup: () => control.close() };
});

describeLimitStoreConformance('redis', async () => {
  const { conn, registry } = await open();
  const limits = new RedisLimitStore(conn, registry);
  registry.start();
  return { limits, cleanup: () => limits.close() };
});

describeNodeMessagesConformance('redis', async () => {
  const { conn, registry } = await open();
  const messages = await RedisNodeMessages.create(conn, registry);
  return { messages, cleanup: () => messages.close() };
});

describeLeaseStoreConformance('redis', async () => {
  let leases = new RedisLeaseStore((await open()).conn);
  return {
    leases,
    cleanup: () => leases.close(),
    // Redis restarted without persistence (every lease key gone), and a node that connects anew.
    restart: async () => {
      await leases.close();
      await dropPrefix(URL, `${PREFIX}:lease`);
      leases = new RedisLeaseStore((await open()).conn);
      return leases;
    },
  };
});

class Recorder implements BrokerHandler {
  readonly pubs: Array<{ channel: string; pub: StreamPublication }> = [];
  readonly events: Array<{ channel: string; event: ChannelEvent }> = [];
  readonly losses: Array<{ channel: string; loss: StreamLoss }> = [];
  onPublication(channel: string, pub: StreamPublication): void {
    this.pubs.push({ channel, pub });
  }
  onStreamLost(channel: string, loss: StreamLoss): void {
    this.losses.push({ channel, loss });
  }
  lossesOf(channel: string): StreamLoss[] {
    return this.losses.filter((l) => l.channel === channel).map((l) => l.loss);
  }
  onEvent(channel: string, event: ChannelEvent): void {
    this.events.push({ channel, event });
  }
  offsets(channel: string): number[] {
    return this.pubs.filter((p) => p.channel === channel).map((p) => p.pub.offset);
  }
}

const opts = { historySize: 100, historyTtl: 60_000, idempotencyTtl: 60_000 };
let n = 0;
const channel = () => `t${PREFIX}|project:${++n}`;

/** Close a node's connections the hard way: no cleanup runs, as when a process is killed. */
function crash(conn: RedisConnection): void {
  conn.cmd.disconnect();
  conn.sub.disconnect();
}

async function killConnection(conn: RedisConnection, role: 'cmd' | 'sub'): Promise<void> {
  const name = `sb:${PREFIX}:${conn.nodeId}:${role}`;
  const list = (await admin.client('LIST')) as string;
  const id = list
    .split('\n')
    .find((line) => line.includes(` name=${name} `))
    ?.match(/^id=(\d+)/)?.[1];
  expect(id).toBeDefined();
  await admin.client('KILL', 'ID', id as string);
}

describe('redis engine across nodes', () => {
  it('fans a publication out to every subscribed node once, and not to unsubscribed nodes', async () => {
    const [a, b, c] = await Promise.all([open(), open(), open()]);
    const [ba, bb, bc] = [new RedisBroker(a.conn), new RedisBroker(b.conn), new RedisBroker(c.conn)];
    const [ra, rb, rc] = [new Recorder(), new Recorder(), new Recorder()];
    ba.setHandler(ra);
    bb.setHandler(rb);
    bc.setHandler(rc);
    const ch = channel();
    await bb.subscribe(ch);
    await bc.subscribe(ch);
    for (let i = 0; i < 20; i++) await ba.publish(ch, `{"i":${i}}`, opts);
    const expected = Array.from({ length: 20 }, (_, i) => i + 1);
    await vi.waitFor(() => expect(rb.offsets(ch)).toEqual(expected), WAIT);
    await vi.waitFor(() => expect(rc.offsets(ch)).toEqual(expected), WAIT);
    await bc.unsubscribe(ch);
    await ba.publish(ch, '"after"', opts);
    await vi.waitFor(() => expect(rb.offsets(ch)).toHaveLength(21), WAIT);
    expect(rc.offsets(ch)).toEqual(expected);
    expect(ra.offsets(ch)).toEqual([]);
    await Promise.all([ba.close(), bb.close(), bc.close()]);
  });

  it('delivers what was published while its pub/sub connection was down, in order, once', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const [ba, bb] = [new RedisBroker(a.conn), new RedisBroker(b.conn)];
    const rb = new Recorder();
    bb.setHandler(rb);
    const ch = channel();
    await bb.subscribe(ch);
    await ba.publish(ch, '1', opts);
    await vi.waitFor(() => expect(rb.offsets(ch)).toEqual([1]), WAIT);
    await killConnection(b.conn, 'sub');
    // Publish while b's pub/sub connection is away and while it comes back.
    for (let i = 0; i < 30; i++) await ba.publish(ch, String(i), opts);
    await vi.waitFor(() => expect(rb.offsets(ch)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1)), WAIT);
    expect(bb.ready()).toBe(true);
    await Promise.all([ba.close(), bb.close()]);
  });

  describe('a lost stream is never passed on silently', () => {
    const HOUR = 3_600_000;
    /** A channel's one key: its stream, whose last id `{epoch}-{offset}` is its position. */
    const streamOf = (ch: string) => `${PREFIX}:{${ch}}:s`;
    const keysOf = (ch: string) => [streamOf(ch)];
    /** The stream's position as Redis holds it: its last generated id. */
    async function lastId(stream: string): Promise<string> {
      const info = (await admin.call('XINFO', 'STREAM', stream)) as unknown[];
      return String(info[info.indexOf('last-generated-id') + 1]);
    }

    /** Keep only the first `n` entries of a stream (its position then at the n-th), as a replica that missed the rest holds it. */
    async function truncate(stream: string, n: number): Promise<void> {
      const entries = await admin.xrange(stream, '-', '+', 'COUNT', n);
      await admin.del(stream);
      for (const [id, fields] of entries) await admin.xadd(stream, id, ...fields);
    }

    /**
     * Node a publishes `published` publications to a channel node b listens to. The periodic
     * check never fires within a test (an hour; 0 turns judging off): the tests run it themselves.
     */
    async function twoNodes(positionCheck = HOUR, published = 5, publish = opts) {
      const [a, b] = await Promise.all([open(), open()]);
      const [ba, bb] = [new RedisBroker(a.conn, { positionCheck }), new RedisBroker(b.conn, { positionCheck })];
      const rb = new Recorder();
      bb.setHandler(rb);
      const ch = channel();
      await bb.subscribe(ch);
      for (let i = 1; i <= published; i++) await ba.publish(ch, String(i), publish);
      await vi.waitFor(() => expect(rb.offsets(ch)).toEqual(Array.from({ length: published }, (_, i) => i + 1)), WAIT);
      return { a, b, ba, bb, rb, ch, close: () => Promise.all([ba.close(), bb.close()]) };
    }

    it('reports the keys deleted under a listened channel when the next publication starts a new epoch, and does not hand that one on', async () => {
      const { ba, rb, ch, close } = await twoNodes();
      await admin.del(...keysOf(ch));
      const next = await ba.publish(ch, '"new"', opts);
      expect(next.offset).toBe(1);
      await vi.waitFor(() => expect(rb.lossesOf(ch)).toEqual(['epoch']), WAIT);
      await ba.publish(ch, '"newer"', opts);
      await vi.waitFor(() => expect(rb.offsets(ch)).toEqual([1, 2, 3, 4, 5, 2]), WAIT);
      await close();
    });

    it('the position check finds keys deleted while nothing is published', async () => {
      const { bb, rb, ch, close } = await twoNodes();
      await bb.checkPositions();
      expect(rb.lossesOf(ch)).toEqual([]);
      await admin.del(...keysOf(ch));
      await bb.checkPositions();
      expect(rb.lossesOf(ch)).toEqual(['epoch']);
      await close();
    });

    it('with the position check off, the periodic round still keeps the stream alive but judges nothing', async () => {
      const { bb, rb, ch, close } = await twoNodes(0, 1);
      const stream = streamOf(ch);
      // Another epoch than the one delivered.
      await admin.del(stream);
      await admin.xadd(stream, '7-1', 't', 0);
      await admin.pexpire(stream, 60_000);
      await bb.checkPositions();
      expect(await admin.pttl(stream)).toBeGreaterThan(3_600_000);
      expect(rb.lossesOf(ch)).toEqual([]);
      await close();
    });

    it('the position check keeps the stream of a listened channel alive', async () => {
      const { bb, ch, close } = await twoNodes();
      const stream = streamOf(ch);
      await admin.pexpire(stream, 60_000);
      await bb.checkPositions();
      expect(await admin.pttl(stream)).toBeGreaterThan(3_600_000);
      await close();
    });

    it('reports an offset that went back in the same epoch (a replica that was behind took over)', async () => {
      const { ba, rb, ch, close } = await twoNodes();
      // What a replica that missed the last two writes holds: same epoch, offset 3.
      await truncate(streamOf(ch), 3);
      expect((await ba.publish(ch, '"forked"', opts)).offset).toBe(4);
      await vi.waitFor(() => expect(rb.lossesOf(ch)).toEqual(['regressed']), WAIT);
      expect(rb.offsets(ch)).toEqual([1, 2, 3, 4, 5]);
      await close();
    });

    it('the position check tells another publication at the last offset delivered from the one delivered', async () => {
      const { bb, rb, ch, close } = await twoNodes();
      const stream = streamOf(ch);
      await bb.checkPositions();
      expect(rb.lossesOf(ch)).toEqual([]);
      const delivered = rb.pubs.at(-1)?.pub.time as number;
      const epoch = (await lastId(stream)).split('-')[0] as string;
      // A replica that missed offset 5 took over and sequenced another publication there.
      await truncate(stream, 4);
      await admin.xadd(stream, `${epoch}-5`, 'd', '"other"', 't', delivered + 7, 'x', delivered + 600_000);
      await bb.checkPositions();
      expect(rb.lossesOf(ch)).toEqual(['regressed']);
      expect(await lastId(stream)).toBe(`${epoch}-5`);
      await close();
    });

    it('after a pub/sub reconnect, finds a stream that came back empty', async () => {
      const { b, bb, rb, ch, close } = await twoNodes();
      await admin.del(...keysOf(ch));
      await killConnection(b.conn, 'sub');
      await vi.waitFor(() => expect(rb.lossesOf(ch)).toEqual(['epoch']), WAIT);
      expect(bb.ready()).toBe(true);
      await close();
    });

    it('a gap that history cannot fill is reported, not delivered across', async () => {
      const small = { ...opts, historySize: 2 };
      const { b, ba, rb, ch, close } = await twoNodes(HOUR, 1, small);
      await killConnection(b.conn, 'sub');
      for (let i = 2; i <= 10; i++) await ba.publish(ch, String(i), small);
      await vi.waitFor(() => expect(rb.lossesOf(ch)).toEqual(['gap']), WAIT);
      expect(rb.offsets(ch)).toEqual([1]);
      await close();
    });
  });

  it('reconnects by itself after its command connection is killed', async () => {
    const { conn } = await open();
    const broker = new RedisBroker(conn);
    await killConnection(conn, 'cmd');
    await vi.waitFor(async () => expect((await broker.publish(channel(), '1', opts)).offset).toBe(1), WAIT);
    expect(broker.ready()).toBe(true);
    await broker.close();
  });

  it('refuses publishes at once while disconnected, and says it is not ready', async () => {
    const { conn } = await open();
    const broker = new RedisBroker(conn);
    crash(conn);
    await vi.waitFor(() => expect(broker.ready()).toBe(false), WAIT);
    const started = Date.now();
    await expect(broker.publish(channel(), '1', opts)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(500);
    await broker.close();
  });

  it('a dead node loses its presence entries after the TTL; one survivor publishes each leave', async () => {
    const ttl = 1500;
    const [a, b, c] = await Promise.all([open(ttl), open(ttl), open(ttl)]);
    const [pa, pb, pc] = [new RedisPresenceStore(a.conn, a.registry), new RedisPresenceStore(b.conn, b.registry), new RedisPresenceStore(c.conn, c.registry)];
    const [bb, bc] = [new RedisBroker(b.conn), new RedisBroker(c.conn)];
    const [rb, rc] = [new Recorder(), new Recorder()];
    bb.setHandler(rb);
    bc.setHandler(rc);
    for (const r of [a.registry, b.registry, c.registry]) r.start();
    await Promise.all([a.registry.beat(), b.registry.beat(), c.registry.beat()]);
    const ch = channel();
    await bb.subscribe(ch);
    await bc.subscribe(ch);
    const entry = (client: string, user: string) => ({ client, user, status: 'online' as const, state: null, since: 1 });
    await pa.set(ch, entry('a1', 'alice'));
    await pa.set(ch, entry('a2', 'alice'));
    await pb.set(ch, entry('b1', 'bob'));
    expect(await pc.counts(ch)).toEqual({ users: 2, connections: 3 });
    crash(a.conn);
    await vi.waitFor(async () => expect(await pc.counts(ch)).toEqual({ users: 1, connections: 1 }), WAIT);
    const leaves = (r: Recorder) =>
      r.events
        .filter((e) => e.channel === ch && e.event.kind === 'leave')
        .map((e) => (e.event as { device: { client: string } }).device.client)
        .sort();
    await vi.waitFor(() => expect(leaves(rb)).toEqual(['a1', 'a2']), WAIT);
    await vi.waitFor(() => expect(leaves(rc)).toEqual(['a1', 'a2']), WAIT);
    // Nothing more arrives: b's own entry stays, and no second leave for a's entries.
    await pb.remove(ch, 'b1');
    await vi.waitFor(() => expect(leaves(rc)).toEqual(['a1', 'a2']), WAIT);
    expect(await pb.get(ch)).toEqual([]);
    await Promise.all([pa.close(), pb.close(), pc.close(), bb.close(), bc.close()]);
  });

  it('entries of a node taken for dead hold their places under the presence cap until a survivor sweeps them', async () => {
    const ttl = 1000;
    const [a, b] = await Promise.all([open(ttl), open(ttl)]);
    const [pa, pb] = [new RedisPresenceStore(a.conn, a.registry), new RedisPresenceStore(b.conn, b.registry)];
    await a.registry.beat();
    const ch = channel();
    const entry = (client: string) => ({ client, user: client, status: 'online' as const, state: null, since: 1 });
    expect(await pa.set(ch, entry('a1'), 2)).toBe('new');
    expect(await pa.set(ch, entry('a2'), 2)).toBe('new');
    expect(await pb.set(ch, entry('b1'), 2)).toBe('full');
    crash(a.conn);
    // Wait on Redis time for a's registration to expire; b runs no heartbeat, so nothing swept a yet.
    const expiry = Number(await admin.zscore(`${PREFIX}:nodes`, a.conn.nodeId));
    await vi.waitFor(async () => {
      const [s, us] = await admin.time();
      expect(Number(s) * 1000 + Math.floor(Number(us) / 1000)).toBeGreaterThan(expiry);
    }, WAIT);
    // Reads leave a's entries out at once, but they keep their places: a node that is only slow
    // must not let joins past the cap.
    expect(await pb.counts(ch)).toEqual({ users: 0, connections: 0 });
    expect(await pb.set(ch, entry('b1'), 2)).toBe('full');
    // b's heartbeat finds a dead and sweeps it: the places are free.
    await b.registry.beat();
    await vi.waitFor(async () => expect(await admin.hlen(`${PREFIX}:{${ch}}:p`)).toBe(0), WAIT);
    expect(await pb.set(ch, entry('b1'), 2)).toBe('new');
    expect(await pb.set(ch, entry('b2'), 2)).toBe('new');
    expect(await pb.set(ch, entry('b3'), 2)).toBe('full');
    expect((await pb.get(ch)).map((e) => e.client).sort()).toEqual(['b1', 'b2']);
    await Promise.all([pa.close(), pb.close()]);
  });

  it('releases the connection slots of a dead node after the TTL', async () => {
    const ttl = 1500;
    const [a, b] = await Promise.all([open(ttl), open(ttl)]);
    const [la, lb] = [new RedisLimitStore(a.conn, a.registry), new RedisLimitStore(b.conn, b.registry)];
    a.registry.start();
    b.registry.start();
    await Promise.all([a.registry.beat(), b.registry.beat()]);
    const tenant = `t${PREFIX}slots`;
    expect(await la.acquireConnection(tenant, 'u', 2, 10)).toBe('ok');
    expect(await la.acquireConnection(tenant, 'u', 2, 10)).toBe('ok');
    expect(await lb.acquireConnection(tenant, 'u', 2, 10)).toBe('user');
    crash(a.conn);
    await vi.waitFor(async () => expect(await lb.acquireConnection(tenant, 'u', 2, 10)).toBe('ok'), WAIT);
    expect(await lb.acquireConnection(tenant, 'u', 2, 10)).toBe('ok');
    expect(await lb.acquireConnection(tenant, 'u', 2, 10)).toBe('user');
    await Promise.all([la.close(), lb.close()]);
  });

  it('releases every slot a node holds when it shuts down cleanly', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const [la, lb] = [new RedisLimitStore(a.conn, a.registry), new RedisLimitStore(b.conn, b.registry)];
    const tenant = `t${PREFIX}close`;
    expect(await la.acquireConnection(tenant, 'u', 1, 10)).toBe('ok');
    expect(await lb.acquireConnection(tenant, 'u', 1, 10)).toBe('user');
    await la.close();
    expect(await lb.acquireConnection(tenant, 'u', 1, 10)).toBe('ok');
    await lb.close();
  });

  it('lists channels over every live node, subscribers summed; a crashed node is missing at once and no longer expected after the TTL', async () => {
    const ttl = 1500;
    const prefix = `${PREFIX}-survey`;
    const node = async (channels: Array<[string, number]>) => {
      const conn = await RedisConnection.open({ url: URL, prefix, connectWait: 3000 });
      const registry = new NodeRegistry(conn, ttl);
      const control = await RedisControlBus.create(conn, registry, { surveyTimeout: 400 });
      control.setChannelSource((tenant, p) =>
        tenant === 'acme' ? channels.filter(([c]) => c.startsWith(p)).map(([channel, subscribers]) => ({ channel, subscribers })) : [],
      );
      registry.start();
      await registry.beat();
      return { conn, control };
    };
    const a = await node([['project:1', 2]]);
    const b = await node([
      ['project:1', 3],
      ['chat:b', 1],
    ]);
    const c = await node([
      ['project:1', 1],
      ['project:c', 4],
    ]);
    const sorted = (l: { channels: Array<{ channel: string }> }) => [...l.channels].sort((x, y) => (x.channel < y.channel ? -1 : 1));
    try {
      const all = await a.control.channels('acme', '');
      expect(sorted(all)).toEqual([
        { channel: 'chat:b', subscribers: 1 },
        { channel: 'project:1', subscribers: 6 },
        { channel: 'project:c', subscribers: 4 },
      ]);
      expect(all).toMatchObject({ nodes: 3, complete: true });
      expect(sorted(await c.control.channels('acme', 'project:'))).toEqual([
        { channel: 'project:1', subscribers: 6 },
        { channel: 'project:c', subscribers: 4 },
      ]);
      expect(await b.control.channels('other', '')).toEqual({ channels: [], nodes: 3, complete: true });
      crash(c.conn);
      const started = Date.now();
      const during = await a.control.channels('acme', '');
      expect(Date.now() - started).toBeLessThan(400 + 300);
      expect(sorted(during)).toEqual([
        { channel: 'chat:b', subscribers: 1 },
        { channel: 'project:1', subscribers: 5 },
      ]);
      expect(during).toMatchObject({ nodes: 2, complete: false });
      await vi.waitFor(async () => expect(await a.control.channels('acme', '')).toMatchObject({ nodes: 2, complete: true }), WAIT);
    } finally {
      await Promise.all([a.control.close(), b.control.close(), c.control.close()]);
      await dropPrefix(URL, prefix);
    }
  });

  it("surveys every live node with a module's question: each answers with its handler, a node without one leaves it incomplete, a bad answer is ignored", async () => {
    const prefix = `${PREFIX}-ask`;
    const node = async (answer?: (request: unknown) => unknown) => {
      const conn = await RedisConnection.open({ url: URL, prefix, connectWait: 3000 });
      const registry = new NodeRegistry(conn, 5000);
      const control = await RedisControlBus.create(conn, registry, { surveyTimeout: 400 });
      if (answer) control.setSurveyHandler('count', answer);
      registry.start();
      await registry.beat();
      return { conn, control };
    };
    const a = await node((r) => ({ node: 'a', asked: r }));
    const b = await node(async (r) => ({ node: 'b', asked: r }));
    try {
      const both = await a.control.survey('count', { tenant: 'acme' });
      expect(both).toMatchObject({ nodes: 2, complete: true });
      expect(both.answers).toEqual([
        { node: 'a', asked: { tenant: 'acme' } },
        { node: 'b', asked: { tenant: 'acme' } },
      ]);
      // A kind nobody answers: this node has no handler, the other does not answer.
      expect(await a.control.survey('unknown', 1)).toEqual({ answers: [], nodes: 1, complete: false });
      const c = await node();
      try {
        const partial = await a.control.survey('count', 2);
        expect(partial).toMatchObject({ nodes: 2, complete: false });
        expect(partial.answers).toHaveLength(2);
      } finally {
        await c.control.close();
      }
    } finally {
      await Promise.all([a.control.close(), b.control.close()]);
      await dropPrefix(URL, prefix);
    }
  });

  it('createRedisEngine assembles the parts and closes them together', async () => {
    const engine = await createRedisEngine({ url: URL, prefix: PREFIX, presenceTtl: 5000 });
    expect(engine.name).toBe('redis');
    expect(engine.broker.ready()).toBe(true);
    const ch = channel();
    expect((await engine.broker.publish(ch, '1', opts)).offset).toBe(1);
    expect(await engine.presence.set(ch, { client: 'c', user: 'u', status: 'online', state: null, since: 1 })).toBe('new');
    expect(await engine.leases.acquire(`engine-${PREFIX}`, 5000, 'me')).toBeGreaterThan(0);
    const got: unknown[] = [];
    engine.messages.onNotification('ping', (data) => {
      got.push(data);
    });
    await engine.messages.notify('ping', 'pong');
    await vi.waitFor(() => expect(got).toEqual(['pong']), WAIT);
    await Promise.all([
      engine.broker.close(),
      engine.presence.close(),
      engine.control.close(),
      engine.limits.close(),
      engine.messages.close(),
      engine.leases.close(),
    ]);
    expect(await admin.hlen(`${PREFIX}:{${ch}}:p`)).toBe(0);
  });
});
