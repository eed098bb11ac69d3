import { randomBytes } from 'node:crypto';
import type { SwitchboardClient } from '@switchboard/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type DurableServer, startDurableServer, type TestDatabase } from '../durable/helpers.js';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { connectedClient } from '../helpers/sdk-client.js';
import { seeded } from '../helpers/seeded.js';
import { dropPrefix } from './drop-prefix.js';

/**
 * Metric buckets merged across three nodes on one Redis (and one PostgreSQL), sharing one
 * injected clock: a seeded generator's points are spread over the nodes for tenant `acme`,
 * and the same points all go to node a for tenant `ref`. Once every node has announced its
 * changed buckets, the query on every node answers for `acme` exactly what node a answers
 * for `ref` — count, sum, min, max, avg, last and percentiles, at 1 s, 10 s and 1 min — and
 * a subscriber on node c sees the points ingested on node a.
 *
 * Timestamps are unique in the generated set, so `last` is one point's value whichever node
 * holds it (the tie rule across nodes is proven in packages/server/test/features/metrics/remote-parts.test.ts).
 */

const REDIS_URL = 'redis://127.0.0.1:6379';
const prefix = `sbmerge-${randomBytes(4).toString('hex')}`;
const T0 = 1_700_000_040_000;
const SERIES = { 'api.latency_ms': { kind: 'distribution', unit: 'ms', labels: ['route'] } };
const STATS = 'count,sum,min,max,avg,last,p50,p95,p99';
const POINTS = 3000;
const BATCH = 250;

interface Point {
  series: string;
  labels: Record<string, string>;
  ts: number;
  value: number;
}

/** Points over [T0, T0 + 20 s), values log-normal, uniform of both signs, zero and constant; unique timestamps; late by up to 6 s. */
function generate(seed: number): Point[] {
  const rnd = seeded(seed);
  const used = new Set<number>();
  const out: Array<{ p: Point; key: number }> = [];
  while (out.length < POINTS) {
    const ts = T0 + Math.floor(rnd() * 20_000);
    if (used.has(ts)) continue;
    used.add(ts);
    const shape = out.length % 4;
    const value = shape === 0 ? Math.exp(rnd() * 8) : shape === 1 ? (rnd() - 0.5) * 2000 : shape === 2 ? 0 : 42;
    const p = { series: 'api.latency_ms', labels: { route: rnd() < 0.5 ? '/a' : '/b' }, ts, value };
    out.push({ p, key: ts + (rnd() - 0.5) * 6000 });
  }
  return out.sort((a, b) => a.key - b.key).map((x) => x.p);
}

describe('metric buckets merged across three nodes (Redis engine)', () => {
  const clock = new ManualClock(T0 + 20_000);
  let db: TestDatabase;
  let nodes: DurableServer[] = [];
  const cleanup: Array<() => void> = [];
  const as = (n: DurableServer, tenant: string) => ({ key: n.apiKey, tenant });
  const push = (n: DurableServer) => n.server.feature<{ cluster: { push(): Promise<number> } }>('metrics').cluster.push();

  async function query(n: DurableServer, tenant: string, route: string, resolution: string): Promise<Record<string, unknown>> {
    const labels = encodeURIComponent(JSON.stringify({ route }));
    const res = await n.api(
      'GET',
      `/metrics/query?series=api.latency_ms&labels=${labels}&resolution=${resolution}&from=${T0 - 1000}&to=${T0 + 21_000}&stats=${STATS}`,
      as(n, tenant),
    );
    expect(res.status, res.text).toBe(200);
    const { labels: _, ...rest } = res.body;
    return rest;
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // Announcements every 200 ms of wall time; the equality test also announces at once.
    const config = { redis: REDIS_URL, redisPrefix: prefix, now: clock.now, metrics: { series: SERIES, pushInterval: '200ms', maxSeries: 100 } };
    for (const id of ['a', 'b', 'c']) nodes.push(await startDurableServer('postgres', { ...config, nodeId: `merge-${id}` }, db));
  }, 60_000);

  afterAll(async () => {
    for (const c of cleanup) c();
    for (const n of nodes) await n.close();
    nodes = [];
    await db?.drop();
    await dropPrefix(REDIS_URL, prefix);
  }, 30_000);

  it('answers the same buckets on every node as one node fed every point', async () => {
    const [a] = nodes as [DurableServer];
    const points = generate(19);
    for (let i = 0; i < points.length; i += BATCH) {
      const batch = points.slice(i, i + BATCH);
      const to = nodes[(i / BATCH) % 3] as DurableServer;
      const spread = await to.api('POST', '/metrics/points', { ...as(to, 'acme'), body: { points: batch } });
      expect(spread.status, spread.text).toBe(200);
      const whole = await a.api('POST', '/metrics/points', { ...as(a, 'ref'), body: { points: batch } });
      expect(whole.status, whole.text).toBe(200);
    }
    for (const n of nodes) await push(n);

    for (const resolution of ['1s', '10s', '1m'])
      for (const route of ['/a', '/b']) {
        const expected = await query(a, 'ref', route, resolution);
        const counted = (expected['count'] as number[]).reduce((x, y) => x + y, 0);
        expect(counted).toBe(points.filter((p) => p.labels['route'] === route).length);
        for (const n of nodes) {
          let got: Record<string, unknown> = {};
          await eventually(
            async () => {
              got = await query(n, 'acme', route, resolution);
              return JSON.stringify(got['count']) === JSON.stringify(expected['count']);
            },
            10_000,
            `every part of ${route} at ${resolution} on node ${nodes.indexOf(n)}`,
          );
          expect(got, `${route} at ${resolution}`).toEqual(expected);
        }
      }
  });

  it('shows a subscriber on node c the points ingested on node a', async () => {
    const [a, , c] = nodes as [DurableServer, DurableServer, DurableServer];
    const sdk: SwitchboardClient = await connectedClient(c.url, () => c.token({ sub: 'ada', caps: { 'metrics:*': ['subscribe'] } }), cleanup);
    const sub = sdk.metrics.subscribe({ series: 'api.latency_ms', labels: { route: '/c' }, window: '30s', stats: ['count', 'sum', 'max'] });
    await sub.ready;
    const at = clock.now();
    const res = await a.api('POST', '/metrics/points', {
      ...as(a, 'acme'),
      body: { series: 'api.latency_ms', labels: { route: '/c' }, ts: [at - 300, at - 200, at - 100], values: [5, 7, 11] },
    });
    expect(res.status, res.text).toBe(200);
    // The frame is due on the server's clock (maxRate); the part reaches c by a's own announcement.
    clock.advance(1000);
    const held = () => {
      const s = sub.columns.series[0];
      return s ? [s.stats.count?.reduce((x, y) => (x ?? 0) + (y ?? 0), 0), s.stats.sum?.reduce((x, y) => (x ?? 0) + (y ?? 0), 0)] : [];
    };
    await eventually(() => held()[0] === 3, 10_000, "node a's points in the view on node c");
    expect(held()).toEqual([3, 23]);
    expect(sub.columns.series[0]?.stats.max).toEqual([11]);
  });
});
