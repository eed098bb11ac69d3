/**
 * The Redis engine's command pipeline (ioredis auto-pipelining on the command connection):
 * publishes issued in one event-loop turn leave in a few socket writes, each caller gets
 * its own reply in order, an error of one command reaches exactly its caller, and a
 * connection lost mid-pipeline fails every publish in flight — none acknowledged and lost.
 */

import { createRedisEngine, type Engine } from '@switchboard/server';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropPrefix, eventually, newPrefix, REDIS_URL } from './cluster.js';
import { RedisProxy } from './redis-proxy.js';

const opts = { historySize: 1000, historyTtl: 60_000, idempotencyTtl: 60_000 };

describe('the Redis command pipeline', () => {
  const prefix = newPrefix('pipeline');
  let proxy: RedisProxy;
  let engine: Engine;
  let admin: Redis;

  beforeAll(async () => {
    proxy = await RedisProxy.start();
    engine = await createRedisEngine({ url: proxy.url, prefix, nodeName: 'pipe', commandTimeout: 2000 });
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    await Promise.all([
      engine.broker.close(),
      engine.presence.close(),
      engine.control.close(),
      engine.limits.close(),
      engine.messages.close(),
      engine.leases.close(),
    ]);
    admin.disconnect();
    await proxy.close();
    await dropPrefix(prefix);
  });

  it('200 publishes of one turn over 4 channels leave in a few writes, each channel numbered in issue order', async () => {
    const before = proxy.writes;
    const calls = Array.from({ length: 200 }, (_, i) => engine.broker.publish(`acme|project:order-${i % 4}`, JSON.stringify(i), opts));
    const outcomes = await Promise.all(calls);
    // One write per command would be 200; a pipeline sends the turn's commands together.
    expect(proxy.writes - before).toBeLessThan(20);
    for (let c = 0; c < 4; c++) {
      const offsets = outcomes.filter((_, i) => i % 4 === c).map((o) => o.offset);
      expect(offsets).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      const page = await engine.broker.history(`acme|project:order-${c}`, { limit: 100 });
      expect(page.publications.map((p) => Number(p.data))).toEqual(Array.from({ length: 50 }, (_, i) => i * 4 + c));
    }
  });

  it('an error of one command mid-pipeline reaches exactly its callers; the others succeed', async () => {
    // A channel whose stream key holds a string: the publish script fails with WRONGTYPE for it.
    await admin.set(`${prefix}:{acme|project:broken}:s`, 'not a hash');
    const channels = Array.from({ length: 60 }, (_, i) => (i % 3 === 1 ? 'acme|project:broken' : `acme|project:fine-${i % 3}`));
    const settled = await Promise.allSettled(channels.map((ch, i) => engine.broker.publish(ch, JSON.stringify(i), opts)));
    settled.forEach((s, i) => {
      if (channels[i] === 'acme|project:broken') {
        expect(s.status).toBe('rejected');
        expect(String((s as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
      } else {
        expect(s.status).toBe('fulfilled');
      }
    });
    const fine0 = settled.filter((_, i) => channels[i] === 'acme|project:fine-0').map((s) => (s as PromiseFulfilledResult<{ offset: number }>).value.offset);
    expect(fine0).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await admin.del(`${prefix}:{acme|project:broken}:s`);
  });

  it('the connection lost mid-pipeline: every publish in flight fails or is stored, none acknowledged and lost', async () => {
    const channel = 'acme|project:cut';
    await engine.broker.publish(channel, '"first"', opts);
    proxy.stall();
    const calls = Array.from({ length: 100 }, (_, i) => engine.broker.publish(channel, JSON.stringify(i), opts));
    await eventually(() => proxy.connections > 0, 5000, 'held');
    proxy.cut();
    const settled = await Promise.allSettled(calls);
    const acked = settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<{ offset: number }>).value.offset);
    expect(settled.some((s) => s.status === 'rejected')).toBe(true);
    proxy.restore();
    await eventually(() => engine.broker.ready(), 15_000, 'ready again');
    const page = await engine.broker.history(channel, { limit: 1000 });
    const stored = new Set(page.publications.map((p) => p.offset));
    for (const offset of acked) expect(stored.has(offset)).toBe(true);
  }, 30_000);
});
