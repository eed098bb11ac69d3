// @vitest-environment node
import type { MetricFrame, MetricSubscribeResult } from '@switchboard/client';
import { describe, expect, it } from 'vitest';
import { MetricWindow } from '../src/charts/metric-window.js';

const T0 = 1_700_000_040_000;
/** A 5-bucket window of 1 s buckets, columns count / p95 / max, one series. */
const RESULT: MetricSubscribeResult = {
  id: 'sub1',
  resolution: '1s',
  step: 1000,
  window: 5000,
  truncated: false,
  rate: 10,
  columns: ['count', 'p95', 'max'],
  series: [{ series: 'api.latency_ms', labels: {}, kind: 'distribution', unit: 'ms' }],
};

function frame(kind: 'backfill' | 'update', from: number, base: number, t: number[], v: Array<Array<number | null>>): MetricFrame {
  return { id: 'sub1', kind, seq: 0, at: base, from, skipped: 0, base, step: 1000, series: [{ i: 0, t, v }] } as MetricFrame;
}

const rows = (w: MetricWindow) => {
  const [x, ...cols] = w.data();
  return [...(x as Float64Array)].map((start, j) => [start - T0, ...cols.map((c) => c[j])]);
};

describe('MetricWindow', () => {
  it('keeps one dense slot per bucket in typed arrays allocated once: backfill, replace, append, shift, NaN for no value', () => {
    const w = new MetricWindow(RESULT, ['p95', 'max']);
    expect(w.capacity).toBe(7);
    expect(w.lines.map((l) => l.label)).toEqual(['p95', 'max']);
    const x = w.x;
    const p95 = w.columns[0];

    // Backfill: buckets 0 and 2 (bucket 1 is empty), p95 null in bucket 2.
    w.apply(
      frame(
        'backfill',
        T0,
        T0,
        [0, 2],
        [
          [3, 4],
          [10, null],
          [12, 40],
        ],
      ),
    );
    expect(rows(w)).toEqual([
      [0, 10, 12],
      [1000, Number.NaN, Number.NaN],
      [2000, Number.NaN, 40],
    ]);

    // An update replaces bucket 2 whole and fills the empty bucket 1 (a late point).
    w.apply(
      frame(
        'update',
        T0,
        T0 + 1000,
        [0, 1],
        [
          [1, 5],
          [7, 30],
          [7, 33],
        ],
      ),
    );
    expect(rows(w).slice(1)).toEqual([
      [1000, 7, 7],
      [2000, 30, 33],
    ]);

    // Appends past the end; the window's `from` moves on and the oldest buckets leave.
    w.apply(frame('update', T0 + 3000, T0 + 6000, [0], [[2], [50], [60]]));
    expect(w.from).toBe(T0 + 3000);
    expect(rows(w)).toEqual([
      [3000, Number.NaN, Number.NaN],
      [4000, Number.NaN, Number.NaN],
      [5000, Number.NaN, Number.NaN],
      [6000, 50, 60],
    ]);

    // Far past the capacity: everything older shifts out, the arrays are the same objects.
    w.apply(frame('update', T0 + 20_000, T0 + 24_000, [0], [[1], [8], [9]]));
    expect(rows(w)).toEqual([
      [20_000, Number.NaN, Number.NaN],
      [21_000, Number.NaN, Number.NaN],
      [22_000, Number.NaN, Number.NaN],
      [23_000, Number.NaN, Number.NaN],
      [24_000, 8, 9],
    ]);
    expect(w.x).toBe(x);
    expect(w.columns[0]).toBe(p95);
    // The data is views of them, not copies.
    expect(w.data()[1]?.buffer).toBe(p95?.buffer);

    // A new backfill starts over.
    w.apply(frame('backfill', T0 + 30_000, T0 + 30_000, [0], [[1], [2], [3]]));
    expect(rows(w)).toEqual([[30_000, 2, 3]]);
  });

  it('loads the view the SDK holds, one line per series and statistic', () => {
    const two: MetricSubscribeResult = { ...RESULT, series: [...RESULT.series, { series: 'queue.depth', labels: {}, kind: 'gauge' }] };
    const w = new MetricWindow(two, ['max', 'sum']);
    expect(w.lines.map((l) => l.label)).toEqual(['api.latency_ms max', 'queue.depth max']);
    w.load({
      step: 1000,
      from: T0,
      series: [
        { ...RESULT.series[0], t: [T0, T0 + 2000], stats: { max: [5, 6] } } as never,
        { series: 'queue.depth', labels: {}, kind: 'gauge', t: [T0 + 1000], stats: { max: [null] } } as never,
      ],
    });
    expect(rows(w)).toEqual([
      [0, 5, Number.NaN],
      [1000, Number.NaN, Number.NaN],
      [2000, 6, Number.NaN],
    ]);
  });
});
