import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@switchboard/protocol';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type DurableServer, STORES, type StoreName, startDurableServer, type TestDatabase } from '../../durable/helpers.js';
import { eventually } from '../../helpers/eventually.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { seeded } from '../../helpers/seeded.js';
import { T0 } from './helpers.js';

/**
 * The 1-minute buckets of series declared with `persist`, on SQLite and PostgreSQL (a fresh
 * schema each), with the servers' clock moved by the test: a stored minute reads back as the
 * minute in memory did (every statistic, percentiles included); a window across the memory
 * retention is answered from memory and storage with no gap and no double; a late point
 * rewrites its stored minute; a restart keeps the rows, and the parts two runs wrote of one
 * minute merge; the sweep job deletes rows past `persistRetention`. The flush runs on the
 * feature's one-second timer: the tests wait for the rows it writes, never for time.
 */

const MIN = 60_000;
const SERIES = {
  'api.latency_ms': { kind: 'distribution', unit: 'ms', labels: ['route'], persist: true },
  'jobs.done': { kind: 'counter', persist: true },
} as const;
const LOGIN = { route: '/login' };

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field
type Answer = any;

interface MinuteRow {
  series: string;
  minute: number;
  writer: string;
  count: number;
  sum: number;
  min: number;
  max: number;
  last: number;
}

describe.each(STORES)('persisted metric minutes on %s', (store: StoreName) => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  let db: TestDatabase;
  let dir: string;
  let clock: ManualClock;

  async function fresh(): Promise<void> {
    db = await createTestDatabase(store);
    dir = mkdtempSync(join(tmpdir(), 'sb-metrics-persist-'));
    clock = new ManualClock(T0);
    cleanup.push(
      () => db.drop(),
      () => rmSync(dir, { recursive: true, force: true }),
    );
  }

  /** A node on the shared database, the admin key naming the tenant; closed at the end of the test unless closed before. */
  async function node(metrics: Record<string, unknown> = {}): Promise<DurableServer> {
    const s = await startDurableServer(
      store,
      { keepDataDir: dir, now: clock.now, jobs: { pollInterval: '1h' }, metrics: { series: SERIES, persistRetention: '1h', ...metrics } } as never,
      db,
    );
    let open = true;
    const stop = s.close;
    const close = async () => {
      if (open) await stop();
      open = false;
    };
    cleanup.push(close);
    return Object.assign(s, { close });
  }

  const as = (s: DurableServer, tenant = 'acme') => ({ key: s.apiKey, tenant });
  const ingest = async (s: DurableServer, body: unknown, tenant = 'acme') => s.api('POST', '/metrics/points', { ...as(s, tenant), body });
  async function query(s: DurableServer, params: Record<string, string | number | object>, tenant = 'acme'): Promise<Answer> {
    const q = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]));
    const res = await s.api('GET', `/metrics/query?${q}`, as(s, tenant));
    expect(res.status, res.text).toBe(200);
    return res.body;
  }
  const rows = async (s: DurableServer): Promise<MinuteRow[]> => {
    const { rows: found } =
      await sql<MinuteRow>`select series, minute, writer, count, sum, min, max, last from sb_metric_minutes order by series, minute, writer`.execute(
        s.server.storage.db,
      );
    return found.map((r) => ({
      ...r,
      minute: Number(r.minute),
      count: Number(r.count),
      sum: Number(r.sum),
      min: Number(r.min),
      max: Number(r.max),
      last: Number(r.last),
    }));
  };

  it('stores a closed minute with every field, and reads it back from storage exactly as memory answered it, after a restart too', async () => {
    await fresh();
    let s = await node();
    const random = seeded(7);
    const ts: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < 600; i++) {
      ts.push(T0 + i * 99);
      // Log-normal latencies with a few zeros and repeated values.
      values.push(i % 50 === 0 ? 0 : i % 7 === 0 ? 12.5 : Math.round(Math.exp(3 + random() * 2 * Math.sqrt(-2 * Math.log(random() || 1e-9))) * 1000) / 1000);
    }
    clock.advanceTo(T0 + 59_500);
    expect((await ingest(s, { series: 'api.latency_ms', labels: LOGIN, ts, values })).status).toBe(200);
    const window = { series: 'api.latency_ms', labels: LOGIN, resolution: '1m', from: T0, to: T0 + MIN };
    const inMemory = await query(s, window);
    expect(inMemory.count).toEqual([600]);
    expect(inMemory.stats.sum[0]).toBeCloseTo(
      values.reduce((a, b) => a + b, 0),
      6,
    );
    expect(await rows(s)).toEqual([]);

    // Closed, and past the lateness: the node's timer writes it.
    clock.advanceTo(T0 + MIN + 10_000);
    await eventually(async () => (await rows(s)).length === 1, 10_000, 'the closed minute to be stored');
    const [row] = await rows(s);
    expect(row).toMatchObject({ series: 'api.latency_ms', minute: T0, count: 600 });
    expect([row?.sum, row?.min, row?.max, row?.last]).toEqual([inMemory.stats.sum[0], inMemory.stats.min[0], inMemory.stats.max[0], inMemory.stats.last[0]]);

    // Twenty minutes on, the 1-minute ring (15 minutes) no longer holds it: the answer comes from storage.
    clock.advanceTo(T0 + 20 * MIN);
    const fromStorage = await query(s, window);
    expect(fromStorage).toEqual(inMemory);
    for (const q of ['p50', 'p95', 'p99']) expect(fromStorage.stats[q][0]).toBe(inMemory.stats[q][0]);

    await s.close();
    s = await node();
    expect(await query(s, window)).toEqual(inMemory);
  });

  it('answers a window across the memory retention with no gap and no double, rewriting a minute a late point changed', async () => {
    await fresh();
    let s = await node();
    const expected = new Map<number, number[]>();
    const add = (minute: number, v: number) => expected.set(minute, [...(expected.get(minute) ?? []), v]);
    for (let k = 0; k < 20; k++) {
      clock.advanceTo(T0 + k * MIN + 50_000);
      const ts = [T0 + k * MIN + 10_000, T0 + k * MIN + 20_000, T0 + k * MIN + 30_000];
      const vs = [k + 1, k + 2, k + 3];
      // From the second minute on, a late point (within the lateness of the newest) lands in the minute before.
      if (k > 0) {
        ts.unshift(T0 + (k - 1) * MIN + 55_000);
        vs.unshift(100 + k);
        add(k - 1, 100 + k);
      }
      for (let i = vs.length - 3; i < vs.length; i++) add(k, vs[i] as number);
      const res = await ingest(s, { series: 'jobs.done', ts, values: vs });
      expect(res.status, res.text).toBe(200);
    }
    const minutes = [...expected.keys()].sort((a, b) => a - b);
    const reference = {
      count: minutes.map((k) => expected.get(k)?.length),
      sum: minutes.map((k) => expected.get(k)?.reduce((a, b) => a + b, 0)),
      min: minutes.map((k) => Math.min(...(expected.get(k) as number[]))),
      max: minutes.map((k) => Math.max(...(expected.get(k) as number[]))),
      // The late point (at :55) is the latest timestamp of its minute.
      last: minutes.map((k) => (k < 19 ? 100 + k + 1 : k + 3)),
    };
    const window = { series: 'jobs.done', resolution: '1m', from: T0, to: T0 + 20 * MIN, stats: 'count,sum,min,max,last' };
    const check = (a: Answer) => {
      expect(a).toMatchObject({ start: T0, step: MIN, truncated: false, count: reference.count });
      expect(a.stats).toEqual({ sum: reference.sum, min: reference.min, max: reference.max, last: reference.last });
    };
    // Minutes 0–4 are past the ring (15 minutes at 19:50): from storage; 5–19 from memory.
    check(await query(s, window));
    // Each closed minute was written once its late point had landed: 4 points, one row each.
    await eventually(async () => (await rows(s)).filter((r) => r.minute < T0 + 19 * MIN && r.count === 4).length === 19, 10_000, 'the rewritten minutes');

    // A restart writes the open minute first; the next run's part of it merges with the first run's.
    await s.close();
    s = await node();
    check(await query(s, window));
    expect(new Set((await rows(s)).map((r) => r.writer)).size).toBe(1);
    expect((await ingest(s, { series: 'jobs.done', ts: [T0 + 19 * MIN + 40_000], values: [1000] })).status).toBe(200);
    const merged = await query(s, window);
    expect(merged.count.at(-1)).toBe(4);
    expect(merged.stats.sum.at(-1)).toBe(19 + 1 + 19 + 2 + 19 + 3 + 1000);
    expect(merged.stats.last.at(-1)).toBe(1000);
    expect(merged.count.slice(0, 19)).toEqual(reference.count.slice(0, 19));
    // Past the ring for both runs: read from the two writers' rows, merged.
    clock.advanceTo(T0 + 40 * MIN);
    const later = await query(s, { ...window, stats: 'count,sum' });
    expect(later.count).toEqual([...reference.count.slice(0, 19), 4]);
    await eventually(async () => new Set((await rows(s)).map((r) => r.writer)).size === 2, 10_000, 'the second run to write its part');
  });

  it("merges two nodes' stored parts of one minute into the minute one node would have built from every point", async () => {
    await fresh();
    const a = await node();
    const b = await node();
    const random = seeded(11);
    const ts: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < 400; i++) {
      ts.push(T0 + i * 140);
      values.push(Math.round(random() * random() * 100_000) / 100 - 20);
    }
    clock.advanceTo(T0 + 59_000);
    // Tenant acme's points are split between the two nodes; tenant demo sends all of them to one.
    const half = (k: number) => ({
      series: 'api.latency_ms',
      labels: LOGIN,
      ts: ts.filter((_, i) => i % 2 === k),
      values: values.filter((_, i) => i % 2 === k),
    });
    expect((await ingest(a, half(0))).status).toBe(200);
    expect((await ingest(b, half(1))).status).toBe(200);
    expect((await ingest(a, { series: 'api.latency_ms', labels: LOGIN, ts, values }, 'demo')).status).toBe(200);
    clock.advanceTo(T0 + MIN + 10_000);
    await eventually(async () => (await rows(a)).length === 3, 10_000, 'both nodes to store their parts');
    expect(new Set((await rows(a)).map((r) => r.writer)).size).toBe(2);

    const window = { series: 'api.latency_ms', labels: LOGIN, resolution: '1m', from: T0, to: T0 + MIN };
    const whole = await query(a, window, 'demo');
    expect(whole.count).toEqual([400]);
    const fromA = await query(a, window);
    const fromB = await query(b, window);
    // Each node: its own part from memory, the other's from storage; later, both from storage.
    expect(fromA.stats).toEqual(whole.stats);
    expect(fromB.stats).toEqual(whole.stats);
    expect([fromA.count, fromB.count]).toEqual([[400], [400]]);
    clock.advanceTo(T0 + 20 * MIN);
    expect(await query(b, window)).toEqual(await query(a, window, 'demo'));
  });

  it('deletes stored minutes past persistRetention in its recurring sweep, and clips a window reaching before it', async () => {
    await fresh();
    // The sweep runs at start, then every 10 minutes of the clock.
    const s = await node({ persistSweepInterval: '10m' });
    clock.advanceTo(T0 + 30_000);
    expect((await ingest(s, { series: 'jobs.done', ts: [T0 + 1000, T0 + 2000], values: [1, 2] })).status).toBe(200);
    clock.advanceTo(T0 + 2 * MIN);
    await eventually(async () => (await rows(s)).length === 1, 10_000, 'the minute to be stored');
    const { rows: jobs } = await sql<{ id: string }>`select id from sb_jobs where id = 'metrics.sweep'`.execute(s.server.storage.db);
    expect(jobs).toEqual([{ id: 'metrics.sweep' }]);

    // A run an hour after the minute: not yet past the retention (1 h), kept.
    clock.advanceTo(T0 + 60 * MIN);
    await s.server.jobs.poll();
    await eventually(() => s.server.jobs.active === 0, 10_000, 'the sweep run to end');
    expect(await rows(s)).toHaveLength(1);
    expect(await query(s, { series: 'jobs.done', resolution: '1m', from: T0, to: T0 + MIN, stats: 'count' })).toMatchObject({ truncated: false, count: [2] });
    // The next run, ten minutes later: past it, deleted.
    clock.advanceTo(T0 + 70 * MIN);
    await s.server.jobs.poll();
    await eventually(async () => (await rows(s)).length === 0, 10_000, 'the sweep to delete the row');
    const clipped = await query(s, { series: 'jobs.done', resolution: '1m', from: T0, to: T0 + 71 * MIN, stats: 'count' });
    expect(clipped.truncated).toBe(true);
    expect(clipped.start).toBe(T0 + 10 * MIN);
    expect(clipped.count.every((n: number) => n === 0)).toBe(true);
  });

  it('keeps the memory answer of a series without persist, and refuses a query label the series does not declare', async () => {
    await fresh();
    const s = await node({ series: { ...SERIES, 'queue.depth': { kind: 'gauge' } } });
    clock.advanceTo(T0 + 30_000);
    expect((await ingest(s, { series: 'queue.depth', ts: [T0 + 1000], values: [3] })).status).toBe(200);
    clock.advanceTo(T0 + 20 * MIN);
    const a = await query(s, { series: 'queue.depth', resolution: '1m', from: T0, to: T0 + MIN, stats: 'count' });
    expect(a).toMatchObject({ truncated: true, count: [] });
    const bad = await s.api('GET', `/metrics/query?series=api.latency_ms&resolution=1m&labels=${encodeURIComponent('{"zone":"x"}')}`, as(s));
    expect(bad.status).toBe(422);
    expect((bad.body['error'] as { code: number }).code).toBe(ErrorCode.UnknownLabel.code);
    expect(await rows(s)).toEqual([]);
  });
});
