/**
 * The Redis command connection under pipelined load (real Redis, a key prefix of its own):
 * publishes issued together leave in one pipeline, are sequenced in the order they were
 * issued, an error reaches exactly the caller whose command failed, and a connection lost
 * mid-pipeline fails every command still in flight — none is acknowledged afterwards.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { dropPrefix } from '../../../../test/cluster/drop-prefix.js';
import { RedisProxy } from '../../../../test/cluster/redis-proxy.js';
import { RateLimited } from '../../src/engine/broker.js';
import { RedisConnection } from '../../src/engine/redis/connection.js';
import { NodeRegistry } from '../../src/engine/redis/node-registry.js';
import { RedisBroker } from '../../src/engine/redis/redis-broker.js';
import { RedisLimitStore } from '../../src/engine/redis/redis-limit-store.js';

const URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `sbpipe-${randomBytes(4).toString('hex')}`;
const admin = new Redis(URL, { maxRetriesPerRequest: 1 });
const opts = { historySize: 1000, historyTtl: 60_000, idempotencyTtl: 60_000 };
let n = 0;
const channel = () => `t${PREFIX}|project:${++n}`;

const open = () => RedisConnection.open({ url: URL, prefix: PREFIX, connectWait: 3000 });

afterAll(async () => {
  await dropPrefix(URL, PREFIX);
  await admin.quit();
});

/** Commands Redis executed so far, by name (INFO commandstats). */
async function commandCounts(): Promise<Map<string, number>> {
  const info = await admin.info('commandstats');
  const counts = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(m[1] as string, Number(m[2]));
  return counts;
}

describe('pipelined publishes on one Redis command connection', () => {
  it('200 publishes issued in one turn are sequenced in issue order, each acknowledged with its own offset', async () => {
    const conn = await open();
    const broker = new RedisBroker(conn, { positionCheck: 0 });
    const ch = channel();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => broker.publish(ch, `{"i":${i}}`, opts)));
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const page = await broker.history(ch, { limit: 200 });
    expect(page.publications.map((p) => p.data)).toEqual(Array.from({ length: 200 }, (_, i) => `{"i":${i}}`));
    await broker.close();
  });

  it('leaves them in few writes: far fewer pipelines than commands (ioredis auto-pipelining)', async () => {
    const conn = await open();
    const broker = new RedisBroker(conn, { positionCheck: 0 });
    const ch = channel();
    const before = (await commandCounts()).get('evalsha') ?? 0;
    await Promise.all(Array.from({ length: 100 }, (_, i) => broker.publish(ch, String(i), opts)));
    const scripts = ((await commandCounts()).get('evalsha') ?? 0) - before;
    // Other tests may use the same Redis: at least ours ran, each once.
    expect(scripts).toBeGreaterThanOrEqual(100);
    expect(conn.cmd.options.enableAutoPipelining).toBe(true);
    await broker.close();
  });

  it('an error reaches exactly the caller whose command failed; the others in the same pipeline succeed in order', async () => {
    const conn = await open();
    const broker = new RedisBroker(conn, { positionCheck: 0 });
    const good = channel();
    const bad = channel();
    // The bad channel's stream key is not a stream: its publish script fails inside Redis.
    await admin.set(`${PREFIX}:{${bad}}:s`, 'not a stream');
    const settled = await Promise.allSettled([
      broker.publish(good, '1', opts),
      broker.publish(good, '2', opts),
      broker.publish(bad, '3', opts),
      broker.publish(good, '4', opts),
      broker.publish(good, '5', opts),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<{ offset: number }>).value.offset)).toEqual([1, 2, 3, 4]);
    expect(String((settled[2] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    await broker.close();
  });

  it('a connection lost mid-pipeline fails every publish still in flight, and acknowledges none of them later', async () => {
    const proxy = await RedisProxy.start();
    const conn = await RedisConnection.open({ url: proxy.url, prefix: PREFIX, connectWait: 3000 });
    const broker = new RedisBroker(conn, { positionCheck: 0 });
    const ch = channel();
    expect((await broker.publish(ch, '"before"', opts)).offset).toBe(1);
    // Hold every byte: the pipeline is on its way and unanswered when the connection drops.
    proxy.stall();
    const inflight = Array.from({ length: 50 }, (_, i) => broker.publish(ch, String(i), opts));
    let acknowledged = 0;
    for (const p of inflight)
      p.then(
        () => {
          acknowledged++;
        },
        () => {},
      );
    await new Promise((resolve) => setImmediate(resolve));
    proxy.cut();
    const settled = await Promise.allSettled(inflight);
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    proxy.restore();
    await vi.waitFor(() => expect(broker.ready()).toBe(true), { timeout: 8000, interval: 20 });
    // Nothing of the cut pipeline was applied, and nothing is acknowledged late.
    const page = await broker.history(ch, { limit: 100 });
    expect(page.offset).toBe(1);
    expect((await broker.publish(ch, '"after"', opts)).offset).toBe(2);
    expect(acknowledged).toBe(0);
    await broker.close();
    await proxy.close();
  });

  it("takes the publisher's rate bucket in the same script: a refused publish stores and delivers nothing", async () => {
    const conn = await open();
    const broker = new RedisBroker(conn, { positionCheck: 0 });
    const ch = channel();
    const rateLimit = { bucket: `pub|${PREFIX}|alice`, ratePerSecond: 0.001, burst: 3 };
    const settled = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => broker.publish(ch, String(i), { ...opts, rateLimit })));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected']);
    expect((settled[3] as PromiseRejectedResult).reason).toBeInstanceOf(RateLimited);
    const page = await broker.history(ch, { limit: 10 });
    expect(page.offset).toBe(3);
    await broker.close();
  });

  it("shares that bucket with the limit store's take (one bucket format)", async () => {
    const conn = await open();
    const registry = new NodeRegistry(conn, 15_000);
    const limits = new RedisLimitStore(conn, registry);
    const broker = new RedisBroker(conn, { positionCheck: 0 });
    const bucket = `pub|${PREFIX}|bob`;
    expect(await limits.take(bucket, 0.001, 2)).toBe(true);
    await broker.publish(channel(), '1', { ...opts, rateLimit: { bucket, ratePerSecond: 0.001, burst: 2 } });
    expect(await limits.take(bucket, 0.001, 2)).toBe(false);
    await broker.close();
    await limits.close();
  });
});
