import { describe, expect, it } from 'vitest';
import { encodeFrame, windowStart } from '../../../src/features/metrics/frame-encoder.js';

const T0 = 1_700_000_040_000;

describe('metric frame encoder', () => {
  it('puts several series in columns with timestamps as base + offsets in steps', () => {
    const frame = encodeFrame({
      id: 'a1',
      kind: 'update',
      seq: 3,
      at: T0 + 5500,
      from: T0 + 1000,
      skipped: 2,
      step: 1000,
      columns: 3,
      series: [
        {
          i: 1,
          rows: [
            { start: T0 + 5000, values: [4, 10.5, 20] },
            { start: T0 + 2000, values: [1, 3, 3] },
          ],
        },
        { i: 0, rows: [{ start: T0 + 3000, values: [2, Number.NaN, 7] }] },
        { i: 2, rows: [] },
      ],
    });
    expect(frame).toEqual({
      id: 'a1',
      kind: 'update',
      seq: 3,
      at: T0 + 5500,
      from: T0 + 1000,
      skipped: 2,
      base: T0 + 2000,
      step: 1000,
      series: [
        { i: 0, t: [1], v: [[2], [null], [7]] },
        {
          i: 1,
          t: [0, 3],
          v: [
            [1, 4],
            [3, 10.5],
            [3, 20],
          ],
        },
      ],
    });
    // JSON keeps every value (non-finite ones are null)
    expect(JSON.parse(JSON.stringify(frame))).toEqual(frame);
  });

  it('answers an empty frame with the window start as base', () => {
    const frame = encodeFrame({
      id: 'x',
      kind: 'backfill',
      seq: 0,
      at: T0,
      from: T0 - 59_000,
      skipped: 0,
      step: 1000,
      columns: 1,
      series: [{ i: 0, rows: [] }],
    });
    expect(frame.base).toBe(T0 - 59_000);
    expect(frame.series).toEqual([]);
  });

  it('decodes back to the buckets it was given', () => {
    const rows = Array.from({ length: 50 }, (_, k) => ({ start: T0 + ((k * 7) % 50) * 10_000, values: [k, k * 1.5] }));
    const frame = encodeFrame({ id: 'r', kind: 'update', seq: 1, at: T0, from: T0, skipped: 0, step: 10_000, columns: 2, series: [{ i: 0, rows }] });
    const part = frame.series[0];
    const decoded = (part?.t ?? []).map((t, j) => ({ start: frame.base + t * frame.step, values: [part?.v[0]?.[j], part?.v[1]?.[j]] }));
    expect(decoded).toEqual([...rows].sort((a, b) => a.start - b.start));
  });

  it('counts a window in whole buckets, the open one included', () => {
    expect(windowStart(T0 + 5500, 1000, 5000)).toBe(T0 + 1000);
    expect(windowStart(T0 + 5500, 1000, 4500)).toBe(T0 + 1000);
    expect(windowStart(T0, 10_000, 300_000)).toBe(T0 - 290_000);
  });
});
