import { describe, expect, it } from 'vitest';
import { seeded } from '../../../../../test/helpers/seeded.js';
import { BucketStore, type SeriesKind } from '../../../src/features/metrics/buckets.js';

/**
 * `addColumns` (a run of points, one bucket lookup per bucket, each value's sketch bin computed
 * once) against one `add` per point, and `firstRefused` against one `refusal` per point: the
 * same buckets to the byte at every resolution, the same changed buckets, the same newest
 * timestamp, the same first refused point — over random runs that span buckets, arrive out of
 * order, repeat timestamps, and land in stores already holding points (slots reused).
 */

const NOW = 1_700_000_040_000;
const RESOLUTIONS = [
  { step: 1000, retention: 60 },
  { step: 10_000, retention: 30 },
  { step: 60_000, retention: 15 },
];

const store = (kind: SeriesKind): BucketStore => new BucketStore({ kind, clock: { now: () => NOW }, resolutions: RESOLUTIONS });

/** Every bucket of a store, encoded, per step (the bytes another node would get). */
function encoded(s: BucketStore): string[] {
  return RESOLUTIONS.map(({ step, retention }) => {
    const starts = Array.from({ length: retention + 6 }, (_, i) => Math.floor(NOW / step) * step - (retention - 1) * step + i * step);
    return Buffer.from(s.exportBuckets(step, starts)).toString('hex');
  });
}

function value(r: () => number): number {
  const x = r();
  if (x < 0.05) return 0;
  if (x < 0.1) return -0;
  if (x < 0.2) return Math.floor(r() * 10);
  if (x < 0.3) return -r() * 1e6;
  if (x < 0.35) return r() * 1e300;
  return Math.exp(r() * 12 - 3);
}

/** A run checked fine point by point: ascending from `from` with late points and repeated timestamps. */
function run(r: () => number, from: number, n: number, span: number): { ts: number[]; values: number[] } {
  const ts: number[] = [];
  const values: number[] = [];
  let t = from;
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x < 0.15) ts.push(Math.max(from, t - Math.floor(r() * 8000)));
    else if (x < 0.3) ts.push(t);
    else {
      t = Math.min(NOW + 5000, t + Math.floor(r() * span));
      ts.push(t);
    }
    values.push(value(r));
  }
  return { ts, values };
}

describe('BucketStore runs of points', () => {
  it('adds a run as one add per point does, to the byte', () => {
    const r = seeded(7);
    for (let c = 0; c < 300; c++) {
      const kind = (['gauge', 'counter', 'distribution'] as const)[c % 3] as SeriesKind;
      const a = store(kind);
      const b = store(kind);
      const batches = 1 + Math.floor(r() * 4);
      let from = NOW - 50_000 + Math.floor(r() * 20_000);
      for (let k = 0; k < batches; k++) {
        const n = 1 + Math.floor(r() * (r() < 0.5 ? 5 : 400));
        const { ts, values } = run(r, from, n, r() < 0.5 ? 300 : 5000);
        const withoutTs = r() < 0.1;
        const at = NOW + k;
        let newest = a.newest;
        for (let i = 0; i < n; i++) {
          const t = withoutTs ? at : (ts[i] as number);
          expect(a.refusal(t, values[i], newest, at)).toBeNull();
          newest = Math.max(newest, t);
          a.add(t, values[i] as number, at);
        }
        expect(b.firstRefused(withoutTs ? undefined : ts, values, 0, b.newest, at)).toBe(-1);
        b.addColumns(withoutTs ? undefined : ts, values, at, at);
        expect(b.newest).toBe(a.newest);
        expect(b.drainChanged()).toEqual(a.drainChanged());
        from = Math.max(from, a.newest - 9000);
      }
      expect(encoded(b)).toEqual(encoded(a));
    }
  });

  it('finds the first point one refusal per point would refuse', () => {
    const r = seeded(11);
    const bad: unknown[] = ['1', null, true, Number.NaN, Number.POSITIVE_INFINITY, {}];
    for (let c = 0; c < 2000; c++) {
      const s = store('gauge');
      if (r() < 0.5) s.add(NOW - Math.floor(r() * 5000), 1, NOW);
      const n = 1 + Math.floor(r() * 20);
      const { ts, values } = run(r, NOW - 40_000, n, 4000) as { ts: unknown[]; values: unknown[] };
      for (let i = 0; i < n; i++) {
        const x = r();
        if (x < 0.03) values[i] = bad[Math.floor(r() * bad.length)];
        else if (x < 0.06) ts[i] = [-1, 0.5, 2 ** 53, NOW + 5001, NOW - 3_600_000, String(NOW), null][Math.floor(r() * 7)];
        else if (x < 0.09) ts[i] = (ts[i] as number) - 10_000 - Math.floor(r() * 5000);
      }
      const from = Math.floor(r() * 2);
      let expected = -1;
      let newest = s.newest;
      for (let i = from; i < n && expected < 0; i++) {
        if (s.refusal(ts[i] as number, values[i], newest, NOW)) expected = i;
        else newest = Math.max(newest, ts[i] as number);
      }
      expect(s.firstRefused(ts, values, from, s.newest, NOW)).toBe(expected);
    }
  });
});

describe('BucketStore points held back until the buckets are read', () => {
  /** `add` then a read of the buckets at once: every point in its buckets before the next comes. */
  const eager = (s: BucketStore, t: number, v: number, at: number): { ok: true; late: boolean } => {
    const added = s.add(t, v, at);
    s.bucket(1000, 0);
    return added;
  };

  it('writes held-back points as the same points added one at a time do, to the byte, across flushes when full', () => {
    const r = seeded(23);
    for (let c = 0; c < 200; c++) {
      const kind = (['gauge', 'counter', 'distribution'] as const)[c % 3] as SeriesKind;
      const a = store(kind);
      const b = store(kind);
      let from = NOW - 50_000 + Math.floor(r() * 20_000);
      const batches = 1 + Math.floor(r() * 4);
      for (let k = 0; k < batches; k++) {
        // Up to 150 points: several times the room held back, so some batches write while adding.
        const n = 1 + Math.floor(r() * (r() < 0.5 ? 5 : 150));
        const { ts, values } = run(r, from, n, r() < 0.5 ? 300 : 5000);
        // Some points share a timestamp and an arrival order decides `last`.
        const at = NOW + Math.floor(k / 2);
        for (let i = 0; i < n; i++) {
          const added = eager(a, ts[i] as number, values[i] as number, at);
          expect(b.add(ts[i] as number, values[i] as number, at)).toEqual(added);
        }
        expect(b.newest).toBe(a.newest);
        if (r() < 0.3) {
          // A merge of gathered observations (the system scope) lands after the held-back points.
          const gathered = store(kind);
          gathered.add(ts[0] as number, 1.5, at);
          const bucket = gathered.bucket(1000, (ts[0] as number) - ((ts[0] as number) % 1000));
          expect(a.absorb(ts[n - 1] as number, bucket as NonNullable<typeof bucket>)).toBe(b.absorb(ts[n - 1] as number, bucket as NonNullable<typeof bucket>));
        }
        if (r() < 0.5) expect(b.drainChanged()).toEqual(a.drainChanged());
        from = Math.max(from, a.newest - 9000);
      }
      expect(encoded(b)).toEqual(encoded(a));
      expect(b.drainChanged()).toEqual(a.drainChanged());
    }
  });

  it('forgets the changes of points still held back when told to forget, and lists those added after', () => {
    const s = store('distribution');
    for (let i = 0; i < 10; i++) s.add(NOW - 20_000 + i * 100, i, NOW);
    s.forgetChanged();
    s.add(NOW - 5_000, 1, NOW);
    s.add(NOW - 4_900, 2, NOW);
    expect(s.drainChanged()).toEqual(
      new Map([
        [1000, [NOW - 5_000]],
        [10_000, [NOW - 10_000]],
        [60_000, [NOW - 60_000]],
      ]),
    );
    // The forgotten points are written all the same.
    expect(s.bucket(1000, NOW - 20_000)?.count).toBe(10);
    expect(s.drainChanged()).toEqual(new Map());
  });
});
