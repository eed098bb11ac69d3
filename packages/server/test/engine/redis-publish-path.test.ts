/**
 * The Redis engine's publish path against a Redis of its own (so `INFO commandstats` counts
 * only this test): how many commands a publication costs, and that the hints a node keeps
 * to make it cheap — each channel's epoch, each rate bucket's value, Redis time from its
 * own clock — never cost a guarantee when they are stale: a stream re-created in a later
 * epoch, a stream that came back in an earlier one, a bucket another node moved, a node
 * whose wall clock is an hour off.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort, killRedis, type RedisProcess, startRedis } from '../../../../test/cluster/redis-servers.js';
import { RateLimited } from '../../src/engine/broker.js';
import { RedisConnection } from '../../src/engine/redis/connection.js';
import { RedisBroker } from '../../src/engine/redis/redis-broker.js';

const PREFIX = 'sbpath';
const opts = { historySize: 100, historyTtl: 60_000, idempotencyTtl: 60_000 };
let dir = '';
let redis: RedisProcess;
let admin: Redis;
let url = '';
let n = 0;
const channel = () => `acme|project:path-${++n}`;
const streamOf = (ch: string) => `${PREFIX}:{${ch}}:s`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-publish-path-'));
  const port = await freePort();
  redis = await startRedis(dir, port, []);
  url = `redis://127.0.0.1:${port}`;
  admin = new Redis(url, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  admin.disconnect();
  await killRedis(redis);
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A node's connection with its Redis clock set, as its heartbeats set it. The clock keeps
 * no estimate without a read answered within a few milliseconds, and scripts then read
 * TIME and cannot use this node's expectations (one more GET per take): on a loaded
 * machine one read may be slow, so read until one is fast (bounded).
 */
async function open(): Promise<RedisConnection> {
  const conn = await RedisConnection.open({ url, prefix: PREFIX, connectWait: 3000 });
  for (let i = 0; i < 200 && conn.clock.now() === null; i++) {
    const sentAt = performance.now();
    const [seconds, micros] = (await conn.cmd.time()) as [string, string];
    conn.clock.sample(Number(seconds) * 1000 + Number(micros) / 1000, sentAt, performance.now());
  }
  if (conn.clock.now() === null) throw new Error('no read of Redis time answered within the clock’s bound in 200 tries');
  return conn;
}

/** Commands Redis executed so far, by name, without the connections' health pings and this test's reads. */
async function commandCounts(): Promise<Map<string, number>> {
  const info = await admin.info('commandstats');
  const counts = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (!['ping', 'info', 'time', 'xinfo|stream', 'xrange'].includes(m[1] as string)) counts.set(m[1] as string, Number(m[2]));
  }
  return counts;
}

function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [name, calls] of after) if (calls !== (before.get(name) ?? 0)) d[name] = calls - (before.get(name) ?? 0);
  return d;
}

/** The stream's position as Redis holds it: its last generated id `{epoch}-{offset}`. */
async function lastId(ch: string): Promise<string> {
  const info = (await admin.call('XINFO', 'STREAM', streamOf(ch))) as unknown[];
  return String(info[info.indexOf('last-generated-id') + 1]);
}

describe('the Redis publish path', () => {
  it('costs 3 commands per publication (EVALSHA, XADD, PUBLISH), 4 with the per-user rate bucket (SET … GET), in one round trip', async () => {
    const conn = await open();
    const broker = new RedisBroker(conn, { positionCheck: 0 });
    const [plain, limited] = [channel(), channel()];
    const rateLimit = { bucket: 'pub|acme|alice', ratePerSecond: 100_000, burst: 1_000 };
    // The first publication of a channel (and of a bucket) on a node learns the epoch and the bucket's value.
    await broker.publish(plain, '0', opts);
    await broker.publish(limited, '0', { ...opts, rateLimit });
    const before = await commandCounts();
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => broker.publish(plain, String(i + 1), opts)));
    const middle = await commandCounts();
    await Promise.all(Array.from({ length: 100 }, (_, i) => broker.publish(limited, String(i + 1), { ...opts, rateLimit })));
    const after = await commandCounts();
    expect(replies.map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
    expect(delta(before, middle)).toEqual({ evalsha: 100, xadd: 100, publish: 100 });
    expect(delta(middle, after)).toEqual({ evalsha: 100, xadd: 100, publish: 100, set: 100 });
    await broker.close();
  });

  it('a node whose cached epoch is older than the stream (re-created by another node) publishes in the stream’s epoch, offsets following on', async () => {
    const [a, b] = [new RedisBroker(await open(), { positionCheck: 0 }), new RedisBroker(await open(), { positionCheck: 0 })];
    const ch = channel();
    const first = await a.publish(ch, '"a1"', opts);
    await admin.del(streamOf(ch));
    const recreated = await b.publish(ch, '"b1"', opts);
    expect(recreated.offset).toBe(1);
    expect(BigInt(recreated.epoch)).toBeGreaterThan(BigInt(first.epoch));
    const next = await a.publish(ch, '"a2"', opts);
    expect(next).toEqual({ epoch: recreated.epoch, offset: 2, deduplicated: false });
    const page = await b.history(ch, { limit: 10 });
    expect(page.publications.map((p) => p.data)).toEqual(['"b1"', '"a2"']);
    await Promise.all([a.close(), b.close()]);
  });

  it('a stream that came back in an earlier epoch than a node saw (empty Redis, its clock behind) starts over in a new epoch above both, never continuing the old one', async () => {
    const a = new RedisBroker(await open(), { positionCheck: 0 });
    const ch = channel();
    const seen = await a.publish(ch, '"a1"', opts);
    await a.publish(ch, '"a2"', opts);
    // What the restarted Redis holds: the channel numbered by a node that never saw `seen.epoch`, from an earlier clock.
    await admin.del(streamOf(ch));
    await admin.xadd(streamOf(ch), '1000-1', 'd', '"old"', 't', 1, 'x', Date.now() + 60_000);
    await admin.xadd(streamOf(ch), '1000-2', 'd', '"old"', 't', 2, 'x', Date.now() + 60_000);
    const next = await a.publish(ch, '"a3"', opts);
    expect(next.offset).toBe(1);
    expect(BigInt(next.epoch)).toBeGreaterThan(BigInt(seen.epoch));
    expect(await lastId(ch)).toBe(`${next.epoch}-1`);
    expect(await admin.xlen(streamOf(ch))).toBe(1);
    await a.close();
  });

  it('a rate bucket another node moved: the stale value is corrected in the same script, and the shared limit holds exactly', async () => {
    const [a, b] = [new RedisBroker(await open(), { positionCheck: 0 }), new RedisBroker(await open(), { positionCheck: 0 })];
    const ch = channel();
    // 3 tokens, practically no refill: exactly 3 publications over both nodes.
    const rateLimit = { bucket: 'pub|acme|carol', ratePerSecond: 0.001, burst: 3 };
    const publish = (broker: RedisBroker, data: string) =>
      broker.publish(ch, data, { ...opts, rateLimit }).then(
        () => 'ok',
        (err: unknown) => (err instanceof RateLimited ? 'limited' : Promise.reject(err)),
      );
    expect(await publish(a, '1')).toBe('ok');
    expect(await publish(b, '2')).toBe('ok');
    // a's value of the bucket is stale now (b took a token): a's next take must see b's.
    expect(await publish(a, '3')).toBe('ok');
    expect(await publish(a, '4')).toBe('limited');
    expect(await publish(b, '5')).toBe('limited');
    expect(await publish(a, '6')).toBe('limited');
    const page = await a.history(ch, { limit: 10 });
    expect(page.publications.map((p) => p.data)).toEqual(['1', '2', '3']);
    await Promise.all([a.close(), b.close()]);
  });

  it('a refused take writes nothing: the bucket holds what it held', async () => {
    const a = new RedisBroker(await open(), { positionCheck: 0 });
    const ch = channel();
    const rateLimit = { bucket: 'pub|acme|dave', ratePerSecond: 0.001, burst: 1 };
    await a.publish(ch, '1', { ...opts, rateLimit });
    const key = `${PREFIX}:rl:${rateLimit.bucket}`;
    const held = await admin.get(key);
    await expect(a.publish(ch, '2', { ...opts, rateLimit })).rejects.toBeInstanceOf(RateLimited);
    expect(await admin.get(key)).toBe(held);
    await a.close();
  });

  it('publication times follow Redis time, not the node’s wall clock (an hour ahead here)', async () => {
    const conn = await open();
    const a = new RedisBroker(conn, { positionCheck: 0 });
    const ch = channel();
    const redisNow = async () => {
      const [s, us] = (await admin.time()) as [string, string];
      return Number(s) * 1000 + Number(us) / 1000;
    };
    const realNow = Date.now();
    const skewed = vi.spyOn(Date, 'now').mockImplementation(() => realNow + 3_600_000 + (performance.now() % 1000));
    try {
      const from = await redisNow();
      await a.publish(ch, '"x"', opts);
      const to = await redisNow();
      const [pub] = (await a.history(ch, { limit: 1 })).publications;
      // The node's estimate is never behind Redis time and at most a round trip ahead of it.
      expect(pub?.time).toBeGreaterThanOrEqual(Math.floor(from));
      expect(pub?.time).toBeLessThanOrEqual(Math.ceil(to) + 1000);
    } finally {
      skewed.mockRestore();
    }
    await a.close();
  });
});

describe('a channel gone quiet', () => {
  it('has its expired entries dropped by the node that published them, keeping its position: the next publication follows on', async () => {
    const conn = await open();
    const broker = new RedisBroker(conn, { positionCheck: 0 });
    const ch = channel();
    const short = { ...opts, historyTtl: 1 };
    for (let i = 1; i <= 3; i++) await broker.publish(ch, String(i), short);
    const position = await lastId(ch);
    expect(await admin.xlen(streamOf(ch))).toBe(3);
    // Not due yet on the node's clock: nothing is asked.
    await broker.trimQuiet();
    expect(await admin.xlen(streamOf(ch))).toBe(3);
    // Once Redis time is past the last entry's expiry (1 ms after it was written), the round drops them.
    const [entry] = (await admin.xrevrange(streamOf(ch), '+', '-', 'COUNT', 1)) as [[string, string[]]];
    const expires = Number(entry[1][entry[1].indexOf('x') + 1]);
    await vi.waitFor(async () => {
      const [s, us] = (await admin.time()) as [string, string];
      expect(Number(s) * 1000 + Number(us) / 1000).toBeGreaterThan(expires);
    });
    await broker.trimQuiet(performance.now() + 10_000);
    expect(await admin.xlen(streamOf(ch))).toBe(0);
    expect(await lastId(ch)).toBe(position);
    const next = await broker.publish(ch, '4', opts);
    expect(`${next.epoch}-${next.offset}`).toBe(`${position.split('-')[0]}-4`);
    await broker.close();
  });

  it('keeps entries that have not expired when the round comes (published to again since)', async () => {
    const conn = await open();
    const broker = new RedisBroker(conn, { positionCheck: 0 });
    const ch = channel();
    await broker.publish(ch, '1', opts);
    await broker.trimQuiet(performance.now() + 120_000);
    expect(await admin.xlen(streamOf(ch))).toBe(1);
    await broker.close();
  });
});

describe('an epoch of another kind', () => {
  it('a channel epoch this node heard that is not a stream epoch (an older release’s) is ignored, never an error', async () => {
    const conn = await open();
    const a = new RedisBroker(conn, { positionCheck: 0 });
    const heard: string[] = [];
    a.setHandler({ onPublication: (_ch, _pub, epoch) => heard.push(epoch), onEvent: () => {}, onStreamLost: () => {} });
    const ch = channel();
    const first = await a.publish(ch, '1', opts);
    await a.subscribe(ch);
    // What an older node's publication on the channel's topic tells this node.
    await conn.cmd.publish(conn.keys.topic(ch), `pAbC12x0\n7\n${Date.now()}\n\n"old"`);
    await vi.waitFor(() => expect(heard).toEqual(['AbC12x0']));
    const next = await a.publish(ch, '2', opts);
    expect(next).toEqual({ epoch: first.epoch, offset: 2, deduplicated: false });
    await a.close();
  });
});
