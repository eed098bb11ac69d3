import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type DurableServer, startDurableServer, type TestDatabase } from '../durable/helpers.js';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { seeded } from '../helpers/seeded.js';
import { dropPrefix } from './drop-prefix.js';

/**
 * A persisted series queried at 1 minute on two nodes sharing one Redis and one PostgreSQL,
 * with one injected clock. Tenant acme's points are split between the nodes; tenant demo
 * sends the same points to node a alone. The query answers from storage, and a minute that
 * another node has not stored yet (it is still open, or within the lateness) comes from that
 * node's live part, as announced over Redis. Where a node's minute is both stored and live,
 * it counts once: acme's answer equals demo's on both nodes, minute by minute.
 */

const REDIS_URL = 'redis://127.0.0.1:6379';
const MIN = 60_000;
const T0 = 1_700_000_040_000 - (1_700_000_040_000 % MIN);
const SERIES = { 'api.latency_ms': { kind: 'distribution', unit: 'ms', labels: ['route'], persist: true } };
const LOGIN = { route: '/login' };
const STATS = 'count,sum,min,max,avg,last,p50,p95,p99';

describe('persisted 1-minute queries on two nodes (Redis + PostgreSQL)', () => {
  const prefix = `sbpersist-${randomBytes(4).toString('hex')}`;
  const clock = new ManualClock(T0);
  let db: TestDatabase;
  let a: DurableServer;
  let b: DurableServer;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const config = {
      redis: REDIS_URL,
      redisPrefix: prefix,
      now: clock.now,
      jobs: { pollInterval: '1h' },
      metrics: { series: SERIES, pushInterval: '1h', persistRetention: '1h' },
    };
    a = await startDurableServer('postgres', { ...config, nodeId: 'persist-a' } as never, db);
    b = await startDurableServer('postgres', { ...config, nodeId: 'persist-b' } as never, db);
  }, 60_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
    await dropPrefix(REDIS_URL, prefix);
  }, 30_000);

  const as = (s: DurableServer, tenant: string) => ({ key: s.apiKey, tenant });
  const push = (s: DurableServer) => s.server.feature<{ cluster: { push(): Promise<number> } }>('metrics').cluster.push();
  const rows = async (): Promise<number> => {
    const { rows: found } = await sql<{ n: string }>`select count(*) as n from sb_metric_minutes`.execute(a.server.storage.db);
    return Number(found[0]?.n ?? 0);
  };
  async function query(s: DurableServer, tenant: string): Promise<Record<string, unknown>> {
    const labels = encodeURIComponent(JSON.stringify(LOGIN));
    const res = await s.api(
      'GET',
      `/metrics/query?series=api.latency_ms&labels=${labels}&resolution=1m&from=${T0}&to=${T0 + 2 * MIN}&stats=${STATS}`,
      as(s, tenant),
    );
    expect(res.status, res.text).toBe(200);
    return res.body;
  }
  /** 200 points in [from, from + 40 s): half to each node for acme, all to node a for demo. */
  async function ingestSplit(from: number, seed: number): Promise<void> {
    const random = seeded(seed);
    const ts = Array.from({ length: 200 }, (_, i) => from + i * 200);
    const values = ts.map(() => Math.round(random() * random() * 100_000) / 100 - 20);
    const half = (k: number) => ({
      series: 'api.latency_ms',
      labels: LOGIN,
      ts: ts.filter((_, i) => i % 2 === k),
      values: values.filter((_, i) => i % 2 === k),
    });
    for (const [s, body, tenant] of [
      [a, half(0), 'acme'],
      [b, half(1), 'acme'],
      [a, { series: 'api.latency_ms', labels: LOGIN, ts, values }, 'demo'],
    ] as const) {
      const res = await s.api('POST', '/metrics/points', { ...as(s, tenant), body });
      expect(res.status, res.text).toBe(200);
    }
  }
  /** Every node's answer for acme equals node a's for demo (eventually: announcements travel through Redis). */
  async function sameAsOneNode(counts: number[]): Promise<void> {
    const expected = await query(a, 'demo');
    expect(expected['count']).toEqual(counts);
    for (const s of [a, b]) {
      let got: Record<string, unknown> = {};
      await eventually(
        async () => {
          got = await query(s, 'acme');
          return JSON.stringify(got['count']) === JSON.stringify(counts);
        },
        10_000,
        `both parts on ${s === a ? 'a' : 'b'}`,
      );
      const { labels: _, ...rest } = got;
      const { labels: __, ...want } = expected;
      expect(rest).toEqual(want);
    }
  }

  it("answers an open minute with the other node's live part, and a stored minute that is also live once", async () => {
    // minute 0, still open: nothing is stored, each node holds its half in memory
    clock.advanceTo(T0 + 45_000);
    await ingestSplit(T0, 5);
    await push(a);
    await push(b);
    expect(await rows()).toBe(0);
    await sameAsOneNode([200]);

    // minute 0 closed and past the lateness: both nodes store their parts, and still announce them live
    clock.advanceTo(T0 + MIN + 45_000);
    await eventually(async () => (await rows()) === 3, 10_000, 'minute 0 stored by both nodes (and demo)');
    // minute 1, open: live only; minute 0: stored and live at once, counted once
    await ingestSplit(T0 + MIN, 6);
    await push(a);
    await push(b);
    await sameAsOneNode([200, 200]);

    // later, minute 0 only in storage: the same answer
    clock.advanceTo(T0 + 2 * MIN + 30_000);
    await eventually(async () => (await rows()) === 6, 10_000, 'minute 1 stored by both nodes (and demo)');
    await sameAsOneNode([200, 200]);
  });
});
