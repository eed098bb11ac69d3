import type { MetricColumns, MetricFrame, MetricSubscription, SwitchboardClient } from '@switchboard/client';
import { DisconnectCode, ErrorCode } from '@switchboard/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../helpers/eventually.js';
import { connectedClient } from '../../helpers/sdk-client.js';
import { seeded } from '../../helpers/seeded.js';
import { type MetricsServer, startMetricsServer, T0 } from './helpers.js';

/**
 * Dashboard subscriptions with a real server and the SDK over real sockets. The server's clock
 * is moved by the test (frames are paced on it); points go in over HTTP.
 */

const METRIC_CAPS = { 'metrics:*': ['subscribe'] };
const LOGIN = { route: '/login' };

interface RawPoint {
  ts: number;
  value: number;
}

/** Nearest-rank quantile of sorted values. */
const rank = (sorted: number[], q: number): number => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;

/** The 1 s buckets of raw points (in ingest order), computed without the server's code. */
function reference(points: RawPoint[], from: number) {
  const byStart = new Map<number, RawPoint[]>();
  for (const p of points) {
    const start = p.ts - (p.ts % 1000);
    if (start < from) continue;
    byStart.set(start, [...(byStart.get(start) ?? []), p]);
  }
  return [...byStart.keys()]
    .sort((a, b) => a - b)
    .map((start) => {
      const ps = byStart.get(start) as RawPoint[];
      const values = ps.map((p) => p.value).sort((a, b) => a - b);
      // last: the latest timestamp; between equal ones the later ingest
      const last = ps.reduce((a, b) => (b.ts >= a.ts ? b : a));
      return { start, count: ps.length, sum: values.reduce((a, b) => a + b, 0), min: values[0], max: values.at(-1), last: last.value, p95: rank(values, 0.95) };
    });
}

function viewRows(columns: MetricColumns) {
  const s = columns.series[0];
  if (!s) return [];
  return s.t.map((start, j) => ({
    start,
    count: s.stats.count?.[j],
    sum: s.stats.sum?.[j],
    min: s.stats.min?.[j],
    max: s.stats.max?.[j],
    last: s.stats.last?.[j],
    p95: s.stats.p95?.[j],
  }));
}

describe('metric subscriptions', () => {
  let m: MetricsServer;
  let cleanup: Array<() => void>;

  beforeEach(async () => {
    m = await startMetricsServer();
    cleanup = [];
  });
  afterEach(async () => {
    for (const c of cleanup) c();
    await m?.s.close();
  });

  const client = (sub: string, caps: Record<string, string[]> = METRIC_CAPS, tenant = 'acme'): Promise<SwitchboardClient> =>
    connectedClient(m.s.url, () => m.s.token({ sub, caps, tenant }), cleanup);

  async function ingestAt(points: RawPoint[], labels: Record<string, string> = LOGIN, tenant = 'acme', asAdmin = false): Promise<void> {
    const res = await m.ingest({ series: 'api.latency_ms', labels, ts: points.map((p) => p.ts), values: points.map((p) => p.value) }, tenant, asAdmin);
    expect(res.status, JSON.stringify(res.json)).toBe(200);
  }

  it('backfill ∪ live updates, with late corrections, equal the reference over the window, also across a dropped connection', async () => {
    const rnd = seeded(19);
    const raw: RawPoint[] = [];
    /** Moves the clock 100 ms and ingests two points at it, and now and then one up to 8 s late. */
    const step = async (late = true): Promise<void> => {
      m.clock.advance(100);
      const now = m.clock.now();
      const batch: RawPoint[] = [
        { ts: now, value: Math.floor(rnd() * 1000) },
        { ts: now - Math.floor(rnd() * 100), value: Math.floor(rnd() * 50) },
      ];
      if (late && rnd() < 0.2) batch.push({ ts: now - Math.floor(rnd() * 8000), value: Math.floor(rnd() * 5000) });
      await ingestAt(batch);
      raw.push(...batch);
    };
    for (let i = 0; i < 100; i++) await step();

    const c = await client('ada');
    // Points land while the subscribe is on its way: each is in the backfill or in a live frame.
    // (No late ones: their timestamps never tie, so `last` does not depend on which lands first.)
    const racing = Promise.all([step(false), step(false), step(false)]);
    const sub = c.metrics.subscribe({ series: 'api.latency_ms', labels: LOGIN, window: '30s', stats: ['count', 'sum', 'min', 'max', 'last', 'p95'] });
    const backfills: MetricFrame[] = [];
    sub.on('backfill', ({ frame }) => backfills.push(frame));
    const result = await sub.ready;
    await racing;
    expect(result).toMatchObject({
      resolution: '1s',
      step: 1000,
      window: 30_000,
      truncated: false,
      rate: 10,
      columns: ['count', 'sum', 'min', 'max', 'last', 'p95'],
    });
    expect(result.series).toEqual([{ series: 'api.latency_ms', labels: LOGIN, kind: 'distribution', unit: 'ms' }]);
    await eventually(() => backfills.length === 1, 5000, 'the backfill');
    expect(backfills[0]?.series[0]?.t.length).toBeGreaterThan(5);

    for (let i = 0; i < 100; i++) await step();

    // The connection drops; points keep coming while it is away; the new backfill replaces the window.
    await m.s.server.node.disconnectUser('acme', 'ada', DisconnectCode.ForceReconnect);
    for (let i = 0; i < 20; i++) await step();
    await eventually(() => backfills.length === 2, 10_000, 'the backfill after the reconnect');
    for (let i = 0; i < 60; i++) await step();

    // No more points: one more interval lets the last changes out.
    m.clock.advance(200);
    const expected = () => reference(raw, sub.columns.from);
    const matches = () => JSON.stringify(viewRows(sub.columns).map((r) => [r.start, r.count])) === JSON.stringify(expected().map((r) => [r.start, r.count]));
    await eventually(matches, 10_000, 'the view to hold every point of the window');

    const view = viewRows(sub.columns);
    const ref = expected();
    expect(sub.columns.from).toBe(m.clock.now() - (m.clock.now() % 1000) - 29_000);
    expect(view.map((r) => r.start)).toEqual(ref.map((r) => r.start)); // no bucket missing or doubled
    expect(view.length).toBeGreaterThanOrEqual(28);
    for (const [j, r] of ref.entries()) {
      const v = view[j];
      expect({ start: v?.start, count: v?.count, sum: v?.sum, min: v?.min, max: v?.max, last: v?.last }).toEqual({
        start: r.start,
        count: r.count,
        sum: r.sum,
        min: r.min,
        max: r.max,
        last: r.last,
      });
      expect(Math.abs((v?.p95 as number) - r.p95)).toBeLessThanOrEqual(0.01 * Math.abs(r.p95) + 1e-9);
    }
  });

  it('sends a maxRate 5 subscriber at most 5 frames in any second of a 30 s run on the server clock', async () => {
    const c = await client('bob');
    const sub = c.metrics.subscribe({ series: 'api.latency_ms', labels: LOGIN, stats: ['count'], maxRate: 5 });
    const frames: MetricFrame[] = [];
    sub.on('update', ({ frame }) => frames.push(frame));
    const result = await sub.ready;
    expect(result.rate).toBe(5);
    expect(result.rateClamped).toBeUndefined();
    let sent = 0;
    for (let i = 0; i < 600; i++) {
      m.clock.advance(50);
      const now = m.clock.now();
      // 4 points every 50 ms: 80 points/s, 16 times the frame rate
      await ingestAt([0, 1, 2, 3].map((k) => ({ ts: now, value: k })));
      sent += 4;
    }
    m.clock.advance(1000);
    const counted = () => sub.columns.series[0]?.stats.count?.reduce((a: number, b) => a + (b ?? 0), 0) ?? 0;
    await eventually(() => counted() === 2400, 10_000, 'every point in the view');
    const perSecond = new Map<number, number>();
    for (const f of frames) perSecond.set(Math.floor((f.at - T0) / 1000), (perSecond.get(Math.floor((f.at - T0) / 1000)) ?? 0) + 1);
    expect(sent).toBe(2400);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(5);
    // every second of the run had frames (the cap is a ceiling, not a stall)
    for (let s = 0; s < 30; s++) expect(perSecond.get(s) ?? 0, `second ${s}`).toBeGreaterThan(0);
    // consecutive frames are at least 200 ms apart on the server clock
    for (let i = 1; i < frames.length; i++) expect((frames[i]?.at as number) - (frames[i - 1]?.at as number)).toBeGreaterThanOrEqual(200);
  });

  it('states a clamped rate and a window clipped to the retention', async () => {
    const c = await client('cy');
    const above = await c.metrics.subscribe({ series: 'queue.depth', maxRate: 50 }).ready;
    expect(above).toMatchObject({ rate: 10, rateClamped: { requested: 50, reason: 'above-ceiling' } });
    const zero = await c.metrics.subscribe({ series: 'queue.depth', maxRate: 0 }).ready;
    expect(zero).toMatchObject({ rate: 1, rateClamped: { requested: 0, reason: 'not-positive' } });
    const negative = await c.metrics.subscribe({ series: 'queue.depth', maxRate: -3 }).ready;
    expect(negative).toMatchObject({ rate: 1, rateClamped: { requested: -3, reason: 'not-positive' } });
    const long = await c.metrics.subscribe({ series: 'queue.depth', window: '10m' }).ready;
    expect(long).toMatchObject({ resolution: '1s', window: 60_000, truncated: true });
    const tenMin = await c.metrics.subscribe({ series: 'queue.depth', resolution: '10s', window: '2m', stats: ['last'] }).ready;
    expect(tenMin).toMatchObject({ resolution: '10s', step: 10_000, window: 120_000, truncated: false, columns: ['last'] });
    const all = await c.metrics.subscribe({ series: 'jobs.done', labels: { queue: 'a' } }).ready;
    expect(all.columns).toEqual(['count', 'sum', 'min', 'max', 'avg', 'last', 'p50', 'p95', 'p99', 'rate']);
  });

  it("never shows tenant demo's canary in tenant acme's frames", async () => {
    const CANARY = 424_242.5;
    const canary = { route: '/canary' };
    m.clock.advance(1000);
    await ingestAt([{ ts: m.clock.now(), value: CANARY }], canary, 'demo', true);
    const c = await client('dee');
    const frames: MetricFrame[] = [];
    const sub = c.metrics.subscribe({ series: 'api.latency_ms', labels: canary, stats: ['count', 'max', 'last'] });
    sub.on('backfill', ({ frame }) => frames.push(frame));
    sub.on('update', ({ frame }) => frames.push(frame));
    await sub.ready;
    for (let i = 0; i < 10; i++) {
      m.clock.advance(300);
      await ingestAt([{ ts: m.clock.now(), value: CANARY }], canary, 'demo', true);
      await ingestAt([{ ts: m.clock.now(), value: i }], canary, 'acme');
    }
    m.clock.advance(300);
    await eventually(() => sub.columns.series[0]?.stats.count?.reduce((a: number, b) => a + (b ?? 0), 0) === 10, 10_000, 'all ten points of acme');
    expect(frames.length).toBeGreaterThan(1);
    expect(JSON.stringify(frames)).not.toContain(String(CANARY));
    expect(Math.max(...(sub.columns.series[0]?.stats.max as number[]))).toBe(9);
  });

  it('refuses a series without the subscribe capability on metrics:<series>, and bad requests, with typed errors', async () => {
    const none = await client('eve', { 'project:*': ['subscribe'] });
    const refused = none.metrics.subscribe({ series: 'api.latency_ms' });
    const errors: number[] = [];
    refused.on('error', ({ error }) => errors.push(error.code));
    await expect(refused.ready).rejects.toMatchObject({ code: ErrorCode.PermissionDenied.code });
    expect(errors).toEqual([ErrorCode.PermissionDenied.code]);
    expect(refused.state).toBe('unsubscribed');

    const some = await client('fox', { 'metrics:jobs.*': ['subscribe'] });
    await expect(some.metrics.subscribe({ series: 'jobs.done', labels: { queue: 'a' } }).ready).resolves.toMatchObject({ rate: 10 });
    await expect(some.metrics.subscribe({ series: ['jobs.done', 'api.latency_ms'] }).ready).rejects.toMatchObject({ code: ErrorCode.PermissionDenied.code });
    await expect(some.metrics.subscribe({ series: 'jobs.nope' }).ready).rejects.toMatchObject({ code: ErrorCode.UnknownSeries.code });
    await expect(some.metrics.subscribe({ series: 'jobs.done', labels: { route: '/x' } }).ready).rejects.toMatchObject({ code: ErrorCode.UnknownLabel.code });
    await expect(some.metrics.subscribe({ series: 'jobs.done', resolution: '5s' as '1s' }).ready).rejects.toMatchObject({
      code: ErrorCode.UnknownResolution.code,
    });
    await expect(some.metrics.subscribe({ series: 'jobs.done', window: 'soon' }).ready).rejects.toMatchObject({ code: ErrorCode.BadRequest.code });
    await expect(some.metrics.subscribe({ series: 'jobs.done', stats: ['p42' as 'p95'] }).ready).rejects.toMatchObject({ code: ErrorCode.BadRequest.code });
    const all = await client('gus');
    await expect(all.metrics.subscribe({ series: 'queue.depth', stats: ['rate'] }).ready).rejects.toMatchObject({ code: ErrorCode.BadRequest.code });
  });

  it("carries several series in one frame, in the schema's order, with base + offsets for the timestamps", async () => {
    const c = await client('ivy');
    const sub = c.metrics.subscribe({ series: ['api.latency_ms', 'queue.depth'], stats: ['count', 'max'] });
    const updates: MetricFrame[] = [];
    sub.on('update', ({ frame }) => updates.push(frame));
    const result = await sub.ready;
    expect(result.series.map((x) => x.series)).toEqual(['api.latency_ms', 'queue.depth']);
    m.clock.advance(1500);
    const res = await m.ingest({
      blocks: [
        { series: 'api.latency_ms', ts: [T0 + 500, T0 + 1400, T0 + 1450], values: [3, 9, 1] },
        { series: 'queue.depth', values: [4] },
      ],
    });
    expect(res.status).toBe(200);
    await eventually(() => updates.length === 1, 5000, 'one frame with both series');
    expect(updates[0]).toMatchObject({
      kind: 'update',
      base: T0,
      step: 1000,
      series: [
        {
          i: 0,
          t: [0, 1],
          v: [
            [1, 2],
            [3, 9],
          ],
        },
        { i: 1, t: [1], v: [[1], [4]] },
      ],
    });
    expect(sub.columns.series.map((x) => x.t)).toEqual([[T0, T0 + 1000], [T0 + 1000]]);
  });

  it('stops the frames of a subscription on unsubscribe', async () => {
    const c = await client('hal');
    const sub: MetricSubscription = c.metrics.subscribe({ series: 'queue.depth', stats: ['last'], maxRate: 10 });
    const frames: MetricFrame[] = [];
    sub.on('update', ({ frame }) => frames.push(frame));
    await sub.ready;
    m.clock.advance(200);
    await m.ingest({ series: 'queue.depth', values: [5] });
    m.clock.advance(200);
    await eventually(() => frames.length === 1, 5000, 'a frame');
    await sub.unsubscribe();
    expect(sub.state).toBe('unsubscribed');
    m.clock.advance(200);
    await m.ingest({ series: 'queue.depth', values: [6] });
    m.clock.advance(200);
    // another subscription on the same connection still gets its frame, so the first one had its chance too
    const other = c.metrics.subscribe({ series: 'queue.depth', stats: ['last'] });
    const seen: number[] = [];
    other.on('update', ({ columns }) => seen.push(columns.series[0]?.stats.last?.at(-1) as number));
    await other.ready;
    m.clock.advance(200);
    await m.ingest({ series: 'queue.depth', values: [7] });
    m.clock.advance(200);
    await eventually(() => seen.includes(7), 5000, "the other subscription's frame");
    expect(frames.length).toBe(1);
  });
});
