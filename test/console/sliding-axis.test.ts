import type { MetricColumns } from '@switchboard/client';
import { describe, expect, it } from 'vitest';
import { LineWindow, SlidingAxis } from '../../packages/console/src/charts/line-window.js';

/**
 * The live charts' time axis between the server's buckets (packages/console/src/charts/line-window.ts):
 * anchored to the newest bucket's arrival, sliding with the clock by the time since, never more
 * than two buckets past the data, re-anchored by a new bucket or a server whose clock went back.
 */
describe('SlidingAxis', () => {
  it('slides with the time since the newest bucket arrived, stops two buckets past it, and re-anchors on the next', () => {
    const axis = new SlidingAxis(60);
    expect(axis.range(0)).toBeNull();
    axis.seen(100_000, 1000, 5_000);
    // The newest bucket [100 s, 101 s) has arrived: the right edge is its end, then moves with the clock.
    expect(axis.range(5_000)).toEqual([41_000, 101_000]);
    expect(axis.range(5_250)).toEqual([41_250, 101_250]);
    expect(axis.range(5_900)).toEqual([41_900, 101_900]);
    // No frame for a while: it stops two buckets past the data.
    expect(axis.range(60_000)).toEqual([43_000, 103_000]);
    // The same bucket refreshed (a partial bucket again) does not move the anchor.
    axis.seen(100_000, 1000, 6_000);
    expect(axis.range(6_100)).toEqual([42_100, 102_100]);
    // The next bucket: anchored again at its end.
    axis.seen(101_000, 1000, 6_200);
    expect(axis.range(6_200)).toEqual([42_000, 102_000]);
    // A server whose clock is behind the page's (a restarted node): anchored to its buckets all the same.
    axis.seen(50_000, 1000, 7_000);
    expect(axis.range(7_500)).toEqual([-8_500, 51_500]);
    // A coarser resolution: the span is 60 of its buckets.
    const coarse = new SlidingAxis(60);
    coarse.seen(600_000, 10_000, 0);
    expect(coarse.range(25_000)).toEqual([30_000, 630_000]);
  });

  it('is fed from a LineWindow refill: the newest bucket any line has', () => {
    const win = new LineWindow([{ sub: 'a', series: 0, stat: 'last', emptyIsZero: false }], 60);
    const t = [97_000, 98_000, 99_000];
    const view = { step: 1000, series: [{ t, stats: { last: [1, 2, 3] } }] } as unknown as MetricColumns;
    win.fill(() => view);
    const axis = new SlidingAxis(win.capacity - 1);
    axis.seen(win.end, win.step, 0);
    expect(axis.range(0)).toEqual([40_000, 100_000]);
  });
});
