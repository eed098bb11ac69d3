import type { MetricFrame, MetricStat } from '@switchboard/protocol';
import { describe, expect, it } from 'vitest';
import { applyFrame, type MetricColumns } from '../src/metric-subscriptions.js';

const T0 = 1_700_000_040_000;
const COLUMNS: MetricStat[] = ['count', 'p95'];

function view(): MetricColumns {
  return {
    step: 1000,
    from: T0,
    series: [
      { series: 'a', labels: {}, kind: 'distribution', t: [], stats: { count: [], p95: [] } },
      { series: 'b', labels: {}, kind: 'gauge', t: [], stats: { count: [], p95: [] } },
    ],
  };
}

const frame = (over: Partial<MetricFrame>): MetricFrame => ({
  id: 's',
  kind: 'update',
  seq: 1,
  at: T0,
  from: T0,
  skipped: 0,
  base: T0,
  step: 1000,
  series: [],
  ...over,
});

describe('metric columns view', () => {
  it('inserts buckets in order, replaces a re-sent bucket whole and keeps the columns aligned', () => {
    const v = view();
    applyFrame(
      v,
      COLUMNS,
      frame({
        series: [
          {
            i: 0,
            t: [0, 2],
            v: [
              [1, 3],
              [10, 30],
            ],
          },
        ],
      }),
    );
    applyFrame(
      v,
      COLUMNS,
      frame({
        base: T0 + 1000,
        series: [
          {
            i: 0,
            t: [0, 1],
            v: [
              [2, 4],
              [20, 40],
            ],
          },
          { i: 1, t: [3], v: [[1], [null]] },
        ],
      }),
    );
    expect(v.series[0]).toMatchObject({ t: [T0, T0 + 1000, T0 + 2000], stats: { count: [1, 2, 4], p95: [10, 20, 40] } });
    expect(v.series[1]).toMatchObject({ t: [T0 + 4000], stats: { count: [1], p95: [null] } });
  });

  it('drops the buckets that left the window', () => {
    const v = view();
    applyFrame(
      v,
      COLUMNS,
      frame({
        series: [
          {
            i: 0,
            t: [0, 1, 2, 3],
            v: [
              [1, 1, 1, 1],
              [5, 6, 7, 8],
            ],
          },
        ],
      }),
    );
    applyFrame(v, COLUMNS, frame({ at: T0 + 5500, from: T0 + 2000, base: T0 + 5000, series: [{ i: 1, t: [0], v: [[1], [9]] }] }));
    expect(v.from).toBe(T0 + 2000);
    expect(v.series[0]).toMatchObject({ t: [T0 + 2000, T0 + 3000], stats: { count: [1, 1], p95: [7, 8] } });
    expect(v.series[1]).toMatchObject({ t: [T0 + 5000], stats: { count: [1], p95: [9] } });
  });

  it('ignores a series index the schema does not have', () => {
    const v = view();
    applyFrame(v, COLUMNS, frame({ series: [{ i: 5, t: [0], v: [[1], [1]] }] }));
    expect(v.series.every((s) => s.t.length === 0)).toBe(true);
  });
});
