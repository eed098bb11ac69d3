import { describe, expect, it } from 'vitest';
import { seeded } from '../../../../../test/helpers/seeded.js';
import type { Stat } from '../../../src/features/metrics/buckets.js';
import { StepLog } from '../../../src/features/metrics/change-log.js';
import { metricsConfig } from '../../../src/features/metrics/config.js';
import { encodeFrame, windowStart } from '../../../src/features/metrics/frame-encoder.js';
import { FrameText, type UpdateSeries } from '../../../src/features/metrics/frame-text.js';
import { MetricStores, type PointInput, storeKey } from '../../../src/features/metrics/metric-stores.js';

/**
 * Update frames as JSON text, their series' parts shared by every subscription that sends the
 * same buckets in one round: byte for byte what `encodeFrame` + `JSON.stringify` made of the
 * same buckets, read from real stores, whatever the columns, starts, bases and sharing.
 */
const T0 = 1_700_000_040_000;
const SERIES = ['a', 'b', 'c', 'd'];
const config = metricsConfig.parse({
  series: Object.fromEntries(SERIES.map((s) => [s, { kind: 'distribution' }])),
});
const COLUMN_SETS: Stat[][] = [['count'], ['count', 'avg', 'p95', 'max', 'last'], ['last', 'min', 'sum'], ['p99', 'count']];

/** The frame text the encoder makes of the same input (reading each series' rows itself). */
function reference(
  stores: MetricStores,
  id: string,
  seq: number,
  at: number,
  from: number,
  skipped: number,
  step: number,
  columns: Stat[],
  series: UpdateSeries[],
): string {
  const frame = encodeFrame({
    id,
    kind: 'update',
    seq,
    at,
    from,
    skipped,
    step,
    columns: columns.length,
    series: series.map((s) => ({ i: s.i, rows: stores.rows(s.key, step, s.starts, columns) })),
  });
  return JSON.stringify(frame);
}

describe('metric frame text', () => {
  it('is byte for byte the encoded frame, for frames sharing parts in a round and across rounds', () => {
    const rnd = seeded(7);
    const now = { t: T0 + 20_000 };
    const stores = new MetricStores(config, { now: () => now.t });
    const text = new FrameText(stores);
    const logs = SERIES.map((s, i) => ({ key: storeKey('acme', s, {}), log: new StepLog(i + 1, 1000) }));
    let frames = 0;
    for (let round = 0; round < 60; round++) {
      now.t += 250;
      const points: PointInput[] = [];
      for (const s of SERIES)
        for (let k = 0; k < 4; k++) {
          // now and then a point a few buckets back, a NaN-free value of any size, some series left empty for a while
          if (s === 'd' && round < 20) continue;
          const ts = now.t - (rnd() < 0.3 ? Math.floor(rnd() * 8000) : 0);
          points.push({ series: s, labels: {}, ts, value: rnd() < 0.1 ? -rnd() * 1e9 : Math.round(rnd() * 1000) / 7 });
        }
      const verdict = stores.check('acme', points);
      expect(verdict.first).toBeNull();
      stores.write('acme', points, verdict);
      text.at(round, round);
      // Several subscriptions this round: overlapping series, different columns, windows and starts.
      for (let sub = 0; sub < 6; sub++) {
        const columns = COLUMN_SETS[sub % COLUMN_SETS.length] as Stat[];
        const window = sub % 2 === 0 ? 10_000 : 3000;
        const from = windowStart(now.t, 1000, window);
        const series: UpdateSeries[] = [];
        for (let i = 0; i < SERIES.length; i++) {
          if (rnd() < 0.3) continue;
          const span = sub < 3 ? 2 : 1 + Math.floor(rnd() * 9);
          const starts = Array.from({ length: span }, (_, j) => now.t - (now.t % 1000) - j * 1000)
            .filter((s) => s >= from)
            .sort((a, b) => a - b);
          const { key, log } = logs[i] as { key: string; log: StepLog };
          series.push({ i, key, log, starts });
        }
        const id = `s${sub}`;
        const got = text.update({ idJson: JSON.stringify(id), seq: round + 1, at: now.t, from, skipped: sub, step: 1000 }, columns, columns.join(','), series);
        expect(got).toBe(reference(stores, id, round + 1, now.t, from, sub, 1000, columns, series));
        frames++;
      }
    }
    expect(frames).toBe(360);
  });

  it('writes a frame with no bucket (every change outside the window) with base = from and no series', () => {
    const stores = new MetricStores(config, { now: () => T0 });
    const text = new FrameText(stores);
    const log = new StepLog(1, 1000);
    const series: UpdateSeries[] = [{ i: 0, key: storeKey('acme', 'a', {}), log, starts: [] }];
    const got = text.update({ idJson: '"x"', seq: 4, at: T0 + 10, from: T0 - 9000, skipped: 0, step: 1000 }, ['count'], 'count', series);
    expect(got).toBe(reference(stores, 'x', 4, T0 + 10, T0 - 9000, 0, 1000, ['count'], series));
    expect(JSON.parse(got)).toMatchObject({ base: T0 - 9000, series: [] });
  });
});

describe('metric change log', () => {
  it('gives each start changed after a version once, whatever the order and repetition of the writes', () => {
    const log = new StepLog(1, 1000);
    log.follow(10_000);
    log.mark(1, [T0, T0 + 1000], T0 + 1000);
    log.mark(2, [T0 + 1000], T0 + 1000);
    log.mark(3, [T0 - 5000, T0 + 1000], T0 + 1000);
    log.mark(4, [T0], T0 + 1000);
    const since = (v: number) => {
      const out: number[] = [];
      log.since(v, out);
      return out.sort((a, b) => a - b);
    };
    expect(since(0)).toEqual([T0 - 5000, T0, T0 + 1000]);
    expect(since(1)).toEqual([T0 - 5000, T0, T0 + 1000]);
    expect(since(3)).toEqual([T0]);
    expect(since(4)).toEqual([]);
    expect(log.last).toBe(4);
    expect(log.size).toBe(3);
  });

  it('forgets starts a window and more behind the widest follower, never whether something changed', () => {
    const log = new StepLog(1, 1000);
    log.follow(3000);
    let v = 0;
    for (let t = T0; t < T0 + 600_000; t += 1000) log.mark(++v, [t], t);
    expect(log.size).toBeLessThanOrEqual(2 * 3 + 16);
    // a start older than any window, written late: it still counts as a change
    log.mark(++v, [T0], T0 + 600_000);
    expect(log.last).toBe(v);
    const out: number[] = [];
    log.since(v - 1, out);
    expect(out).toEqual([T0]);
    // a wider follower widens what is kept
    log.follow(60_000);
    for (let t = T0 + 600_000; t < T0 + 700_000; t += 1000) log.mark(++v, [t], t);
    const kept: number[] = [];
    log.since(0, kept);
    expect(Math.min(...kept)).toBeLessThanOrEqual(T0 + 700_000 - 60_000);
  });
});
