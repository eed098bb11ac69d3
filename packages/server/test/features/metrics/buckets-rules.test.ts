import { describe, expect, it } from 'vitest';
import { Bucket } from '../../../src/features/metrics/bucket.js';
import { BucketStore, type BucketStoreOptions, type Columns, DEFAULT_RESOLUTIONS } from '../../../src/features/metrics/buckets.js';

const T0 = 29_166_666 * 60_000; // a whole minute, in 2025
function store(options: Partial<BucketStoreOptions> = {}) {
  const clock = { t: T0, now: () => clock.t };
  return { clock, s: new BucketStore({ kind: 'distribution', clock, ...options }) };
}
const snapshot = (s: BucketStore) => DEFAULT_RESOLUTIONS.map((r) => s.read(r.step, T0 - 600_000, T0 + 600_000));

describe('bucket store rules', () => {
  it('absorbs observations gathered without timestamps exactly as if each had been ingested at one time', () => {
    const values = [0.4, 12, 3.25, 0, 7, 7, 1900, 0.05];
    const { s: ingested } = store();
    const { s: absorbed } = store();
    for (const v of values.slice(0, 3)) expect(ingested.ingest(T0 + 400, v).ok).toBe(true);
    for (const v of values.slice(3)) expect(ingested.ingest(T0 + 1400, v).ok).toBe(true);
    const gather = (vs: number[]) => {
      const b = new Bucket(0);
      for (const v of vs) b.add(0, v, 0);
      return b;
    };
    expect(absorbed.absorb(T0 + 400, gather(values.slice(0, 3)))).toBe(true);
    expect(absorbed.absorb(T0 + 1400, gather(values.slice(3)))).toBe(true);
    const stats = ['count', 'sum', 'min', 'max', 'avg', 'p50', 'p95', 'p99'] as const;
    for (const r of DEFAULT_RESOLUTIONS) {
      expect(absorbed.read(r.step, T0, T0 + 60_000, [...stats]), `step ${r.step}`).toEqual(ingested.read(r.step, T0, T0 + 60_000, [...stats]));
    }
    expect(absorbed.newest).toBe(T0 + 1400);
    // An empty gathering and a time the store would refuse write nothing.
    expect(absorbed.absorb(T0 + 1500, new Bucket(0))).toBe(false);
    expect(absorbed.absorb(T0 - 3_600_000, gather([1]))).toBe(false);
    expect(absorbed.read(1000, T0, T0 + 60_000, ['count'])).toEqual(ingested.read(1000, T0, T0 + 60_000, ['count']));
  });

  it('refuses bad values and timestamps with a typed result and writes nothing', () => {
    const { s } = store();
    expect(s.ingest(T0, 5).ok).toBe(true);
    const before = JSON.stringify(snapshot(s));
    const cases: Array<[number, unknown, string]> = [
      [T0, Number.NaN, 'value'],
      [T0, Number.POSITIVE_INFINITY, 'value'],
      [T0, Number.NEGATIVE_INFINITY, 'value'],
      [T0, '5', 'value'],
      [T0, null, 'value'],
      [T0, undefined, 'value'],
      [T0 + 0.5, 1, 'timestamp'],
      [-1000, 1, 'timestamp'],
      [2 ** 53, 1, 'timestamp'],
      [Number.NaN, 1, 'timestamp'],
      [T0 + 5_001, 1, 'too-early'],
      [T0 - 10_001, 1, 'too-late'],
    ];
    for (const [ts, value, code] of cases) {
      const result = s.ingest(ts, value as number);
      expect(result, `${ts} ${String(value)}`).toEqual({ ok: false, code, message: expect.any(String) });
    }
    expect(JSON.stringify(snapshot(s))).toBe(before);
    expect(s.ingest(T0 + 5_000, 1).ok).toBe(true);
    expect(s.ingest(T0 + 5_000 - 10_000, 1)).toEqual({ ok: true, late: true });
  });

  it('lands a late point in its own past buckets and reports them as changed, at every resolution', () => {
    const { clock, s } = store();
    clock.t = T0 + 65_000;
    s.ingest(T0 + 65_000, 1);
    expect(s.drainChanged()).toEqual(
      new Map([
        [1000, [T0 + 65_000]],
        [10_000, [T0 + 60_000]],
        [60_000, [T0 + 60_000]],
      ]),
    );
    expect(s.drainChanged()).toEqual(new Map());
    expect(s.ingest(T0 + 57_500, 2)).toEqual({ ok: true, late: true });
    expect(s.drainChanged()).toEqual(
      new Map([
        [1000, [T0 + 57_000]],
        [10_000, [T0 + 50_000]],
        [60_000, [T0]],
      ]),
    );
    expect(s.bucket(60_000, T0)?.count).toBe(1);
  });

  it('keeps last as the value of the latest timestamp, the later arrival on a tie', () => {
    const { s } = store();
    s.ingest(T0 + 300, 1);
    s.ingest(T0 + 100, 2);
    s.ingest(T0 + 300, 3);
    s.ingest(T0 + 200, 4);
    expect(s.bucket(1000, T0)?.last).toBe(3);
    const bucket = s.bucket(1000, T0);
    expect([bucket?.count, bucket?.sum, bucket?.min, bucket?.max, bucket?.avg]).toEqual([4, 10, 1, 4, 2.5]);
  });

  it('gives a counter its rate per second, and only a counter', () => {
    const { clock, s } = store({ kind: 'counter' });
    clock.t = T0 + 9000;
    for (let i = 0; i < 10; i++) s.ingest(T0 + i * 1000, 3);
    const tenSeconds = s.read(10_000, T0, T0 + 10_000, ['sum', 'rate']) as Columns;
    expect(tenSeconds.stats).toEqual({ sum: [30], rate: [3] });
    const { s: gauge } = store({ kind: 'gauge' });
    expect(gauge.read(1000, T0, T0 + 1000, ['rate'])).toMatchObject({ ok: false, code: 'stat' });
    expect(gauge.read(5000, T0, T0 + 1000)).toMatchObject({ ok: false, code: 'resolution' });
    expect(gauge.read(1000, Number.NaN, T0 + 1000)).toMatchObject({ ok: false, code: 'timestamp' });
    expect(gauge.read(1000, T0, Number.POSITIVE_INFINITY)).toMatchObject({ ok: false, code: 'timestamp' });
  });

  it('reads columns with empty buckets as null, and clips a window longer than the retention (truncated)', () => {
    const { clock, s } = store();
    s.ingest(T0, 1);
    s.ingest(T0 + 2000, 2);
    const cols = s.read(1000, T0, T0 + 3000, ['count', 'max']) as Columns;
    expect(cols).toEqual({ ok: true, start: T0, step: 1000, truncated: false, count: [1, 0, 1], stats: { max: [1, null, 2] } });
    clock.t = T0 + 100_000;
    const clipped = s.read(1000, T0, T0 + 101_000, ['count']) as Columns;
    const retention = DEFAULT_RESOLUTIONS[0]?.retention as number;
    expect(clipped.truncated).toBe(true);
    expect(clipped.start).toBe(T0 + 100_000 - (retention - 1) * 1000);
    expect(clipped.count.length).toBe(retention);
    // A window far into the future is not listed past the clock plus the skew.
    expect((s.read(1000, T0 + 100_000, T0 + 3_600_000, ['count']) as Columns).count.length).toBe(1 + 5);
  });

  it('evicts buckets past each retention by the injected clock, refuses points there, and empties after the longest', () => {
    const { clock, s } = store();
    for (let t = 0; t < 60_000; t += 500) {
      clock.t = T0 + t;
      expect(s.ingest(T0 + t, t).ok).toBe(true);
    }
    const held = (step: number) => (s.read(step, 0, T0 + 600_000, ['count']) as Columns).count.filter((c) => c > 0).length;
    s.sweep();
    expect(DEFAULT_RESOLUTIONS.map((r) => held(r.step))).toEqual(DEFAULT_RESOLUTIONS.map((r) => Math.min(r.retention, 60_000 / r.step)));
    const oldestKept = T0 + 60_000 - (DEFAULT_RESOLUTIONS[0]?.retention as number) * 1000;
    expect(s.bucket(1000, oldestKept - 1000)).toBeUndefined();
    expect(s.bucket(1000, oldestKept)?.count).toBe(2);
    // Time passes with no points: nothing is evicted without the clock, then everything.
    clock.t = T0 + 59_500 + 10_000;
    expect(s.ingest(T0 + 59_500 - 10_001, 1)).toMatchObject({ ok: false, code: 'too-late' });
    const longest = Math.max(...DEFAULT_RESOLUTIONS.map((r) => r.step * r.retention));
    // The one 1 min bucket (T0) lives until T0 + 5 × 1 min.
    clock.t = T0 + longest - 1;
    s.sweep();
    expect(s.size).toBe(1);
    clock.t = T0 + longest;
    expect(s.sweep()).toBe(1);
    expect(s.size).toBe(0);
    expect((s.read(60_000, T0, T0 + 60_000, ['count']) as Columns).truncated).toBe(true);
  });

  it('refuses a point whose bucket is past the retention even when within the lateness', () => {
    const { clock, s } = store({ resolutions: [{ step: 1000, retention: 3 }], lateness: 10_000 });
    s.ingest(T0 + 5000, 1);
    clock.t = T0 + 5000;
    expect(s.ingest(T0 + 3000, 1).ok).toBe(true);
    expect(s.ingest(T0 + 2999, 1)).toMatchObject({ ok: false, code: 'too-late' });
  });

  it('merges partial buckets exactly and refuses a malformed or foreign payload whole, writing nothing', () => {
    const a = store();
    const b = store();
    for (let i = 0; i < 50; i++) (i % 2 ? a : b).s.ingest(T0 + i * 100, i * 1.1);
    const payload = b.s.exportBuckets(1000, b.s.drainChanged().get(1000) ?? []);
    const before = JSON.stringify(snapshot(a.s));
    for (let n = 0; n < payload.length; n++) expect(a.s.mergeBuckets(payload.subarray(0, n))).toMatchObject({ ok: false, code: 'decode' });
    const foreign = store({ sketch: { relativeAccuracy: 0.02 } });
    foreign.s.ingest(T0, 1);
    expect(a.s.mergeBuckets(foreign.s.exportBuckets(1000, [T0]))).toMatchObject({ ok: false, code: 'decode' });
    expect(a.s.mergeBuckets(new Uint8Array([1, 0x88, 0x27, 0]))).toMatchObject({ ok: false, code: 'resolution' }); // step 5000, no buckets
    const empty = store();
    empty.s.ingest(T0, 1);
    const emptyBucket = Uint8Array.from(empty.s.exportBuckets(1000, [T0]));
    // The same bucket with its sketch emptied (no bins) and nothing after: a bucket without points.
    const sketchAt = 1 + 2 + 1 + 6; // format, step, count, start
    const forged = new Uint8Array([...emptyBucket.subarray(0, sketchAt + 1 + 8 + 2), 0, 0]);
    expect(a.s.mergeBuckets(forged)).toMatchObject({ ok: false, code: 'decode', message: 'an empty bucket' });
    expect(JSON.stringify(snapshot(a.s))).toBe(before);
    expect(a.s.mergeBuckets(payload)).toEqual({ ok: true, changed: [1000, 1000, 1000, 1000, 1000].map((step, i) => [step, T0 + i * 1000]), dropped: 0 });
    const bucket = a.s.bucket(1000, T0 + 1000);
    expect([bucket?.count, bucket?.min, bucket?.max, bucket?.last]).toEqual([10, 10 * 1.1, 19 * 1.1, 19 * 1.1]);
    // Past the retention: ignored and counted.
    a.clock.t = T0 + 3_600_000;
    expect(a.s.mergeBuckets(payload)).toMatchObject({ ok: true, changed: [], dropped: 5 });
  });

  it('packs buckets 2 s behind the newest point on sweep without changing a statistic, and unpacks one a late point reaches', () => {
    const { clock, s } = store();
    for (let i = 0; i < 100; i++) s.ingest(T0 + i * 50, (i % 7) * 1.5 - 2, i);
    clock.t = T0 + 8000;
    s.ingest(T0 + 8000, 1, 100);
    const facts = () => {
      const b = s.bucket(1000, T0 + 2000);
      return [b?.count, b?.sum, b?.min, b?.max, b?.last, b?.lastTs, b?.sketch.bins()];
    };
    const before = facts();
    expect(s.bucket(1000, T0 + 2000)).toBe(s.bucket(1000, T0 + 2000)); // live: the bucket itself
    s.sweep();
    expect(s.bucket(1000, T0 + 2000)).not.toBe(s.bucket(1000, T0 + 2000)); // packed: a decoded copy
    expect(facts()).toEqual(before);
    expect(s.bucket(1000, T0 + 8000)).toBe(s.bucket(1000, T0 + 8000)); // the current one stays live
    expect(s.ingest(T0 + 2999, 100, 101)).toEqual({ ok: true, late: true });
    expect(s.bucket(1000, T0 + 2000)?.count).toBe(21);
    expect(s.bucket(1000, T0 + 2000)?.max).toBe(100);
    expect(s.bucket(1000, T0 + 2000)?.last).toBe(100);
    s.drainChanged();
    s.sweep();
    const other = store();
    other.clock.t = clock.t;
    other.s.ingest(T0 + 2500, -50, 200);
    expect(s.mergeBuckets(other.s.exportBuckets(1000, [T0 + 2000]))).toMatchObject({ ok: true, changed: [[1000, T0 + 2000]] });
    expect([s.bucket(1000, T0 + 2000)?.count, s.bucket(1000, T0 + 2000)?.min, s.bucket(1000, T0 + 2000)?.last]).toEqual([22, -50, 100]);
  });
});
