import { describe, expect, it } from 'vitest';
import { Bucket } from '../../../src/features/metrics/bucket.js';
import { BucketStore, type Columns, type ResolutionOptions, type SeriesKind } from '../../../src/features/metrics/buckets.js';
import { acceptedPoints, type Case, generate, nearestRank, prng, type ReferenceBucket, referenceBuckets } from './reference.js';

const CASES = 1000;
const STEPS = [1000, 10_000, 60_000];
const KINDS: SeriesKind[] = ['gauge', 'counter', 'distribution'];

const facts = (b: Bucket) => ({
  start: b.start,
  count: b.count,
  sum: b.sum,
  min: b.min,
  max: b.max,
  last: b.last,
  lastTs: b.lastTs,
  bins: b.sketch.bins(),
});

/** Resolutions whose retention covers the whole case, so every accepted point stays. */
function resolutionsFor(c: Case): ResolutionOptions[] {
  const first = Math.min(...c.points.map((p) => p.ts));
  const last = Math.max(...c.points.map((p) => p.wall + c.maxSkew));
  return STEPS.map((step) => ({ step, retention: Math.ceil((last - first) / step) + 2 }));
}

let worst = { error: 0, ofAlpha: 0, seed: -1, q: 0 };
const problems: string[] = [];
const same = (what: string, actual: unknown, expected: unknown): void => {
  if (!Object.is(actual, expected) && problems.length < 20) problems.push(`${what}: ${String(actual)} instead of ${String(expected)}`);
};
const sameFacts = (what: string, a: Bucket | undefined, b: Bucket): void => {
  if (a === undefined) {
    same(what, 'no bucket', 'a bucket');
    return;
  }
  const fa = facts(a);
  const fb = facts(b);
  for (const k of ['start', 'count', 'sum', 'min', 'max', 'last', 'lastTs'] as const) same(`${what} ${k}`, fa[k], fb[k]);
  same(`${what} bins`, JSON.stringify(fa.bins), JSON.stringify(fb.bins));
};

function checkAgainstReference(where: string, b: Bucket | undefined, ref: ReferenceBucket, alpha: number, seed: number): void {
  if (b === undefined) {
    same(where, 'no bucket', 'a bucket');
    return;
  }
  same(`${where} count`, b.count, ref.count);
  same(`${where} sum`, b.sum, ref.sum);
  same(`${where} min`, b.min, ref.min);
  same(`${where} max`, b.max, ref.max);
  same(`${where} last`, b.last, ref.last);
  if (!(Math.abs(b.avg - ref.avg) <= 1e-9 * Math.abs(ref.avg))) same(`${where} avg`, b.avg, ref.avg);
  for (const q of [0.5, 0.95, 0.99]) {
    const exact = nearestRank(ref.sorted, q);
    const estimate = b.sketch.quantile(q);
    const error = exact === 0 ? Math.abs(estimate) : Math.abs(estimate - exact) / Math.abs(exact);
    if (exact === 0) same(`${where} p${q * 100} of zero`, estimate, 0);
    else if (!(error <= alpha * (1 + 1e-9))) same(`${where} p${q * 100} (α ${alpha})`, estimate, exact);
    if (error / alpha > worst.ofAlpha) worst = { error, ofAlpha: error / alpha, seed, q };
  }
}

describe('bucket store against a reference computed without it', () => {
  it(`${CASES} seeded cases: every bucket at every resolution, on one node and merged from three`, () => {
    let buckets = 0;
    let refused = 0;
    for (let seed = 1; seed <= CASES; seed++) {
      const c = generate(seed);
      const r = prng(seed ^ 0x5eed);
      const alpha = [0.01, 0.01, 0.02, 0.005][seed % 4] as number;
      let wall = 0;
      const options = {
        kind: KINDS[seed % 3] as SeriesKind,
        clock: { now: () => wall },
        resolutions: resolutionsFor(c),
        lateness: c.lateness,
        maxSkew: c.maxSkew,
        sketch: { relativeAccuracy: alpha },
      };
      const whole = new BucketStore(options);
      const nodes = [new BucketStore(options), new BucketStore(options), new BucketStore(options)];
      const accepted = acceptedPoints(c);
      const acceptedSet = new Set(accepted.map((p) => p.arrival));
      for (const p of c.points) {
        wall = p.wall;
        const result = whole.ingest(p.ts, p.value, p.arrival);
        same(`seed ${seed} point ${p.arrival} accepted`, result.ok, acceptedSet.has(p.arrival));
        if (!result.ok) {
          same(`seed ${seed} refusal`, result.code === 'too-late' || result.code === 'too-early', true);
          refused++;
          continue;
        }
        // Housekeeping now and then packs closed buckets: nothing may change but their form.
        if (r() < 0.05) for (const s of [whole, ...nodes]) s.sweep();
        const node = nodes[Math.floor(r() * 3)] as BucketStore;
        same(`seed ${seed} point ${p.arrival} on a node`, node.ingest(p.ts, p.value, p.arrival).ok, true);
      }
      // The three nodes' partial buckets, merged as a subscriber's node would.
      const merged = new BucketStore(options);
      for (const node of nodes) {
        for (const [step, starts] of node.drainChanged()) {
          const result = merged.mergeBuckets(node.exportBuckets(step, starts));
          same(`seed ${seed} merge`, result.ok && result.dropped, 0);
        }
      }
      const changed = whole.drainChanged();
      for (const step of STEPS) {
        const reference = referenceBuckets(accepted, step);
        same(`seed ${seed} step ${step} changed`, JSON.stringify(changed.get(step) ?? []), JSON.stringify([...reference.keys()].sort((a, b) => a - b)));
        for (const [start, ref] of reference) {
          const where = `seed ${seed} step ${step} bucket ${start}`;
          const b = whole.bucket(step, start) as Bucket;
          checkAgainstReference(where, b, ref, alpha, seed);
          sameFacts(`${where} merged from 3 nodes`, merged.bucket(step, start), b);
          if (step > 1000) {
            const fromSeconds = new Bucket(start, { relativeAccuracy: alpha });
            for (let s = start; s < start + step; s += 1000) {
              const second = whole.bucket(1000, s);
              if (second) fromSeconds.merge(second);
            }
            sameFacts(`${where} merged from its 1 s buckets`, fromSeconds, b);
          }
          buckets++;
        }
      }
      // The columnar read agrees with the buckets, empty ones included.
      const starts = [...referenceBuckets(accepted, 1000).keys()];
      if (starts.length > 0) {
        const from = Math.min(...starts);
        const to = Math.max(...starts) + 1000;
        const cols = whole.read(1000, from, to) as Columns;
        same(`seed ${seed} read`, cols.ok && cols.truncated, false);
        same(`seed ${seed} read length`, cols.count.length, (to - from) / 1000);
        same(`seed ${seed} read rate column`, cols.stats.rate !== undefined, options.kind === 'counter');
        for (let i = 0; i < cols.count.length; i++) {
          const b = whole.bucket(1000, from + i * 1000);
          same(`seed ${seed} read count ${i}`, cols.count[i], b?.count ?? 0);
          same(`seed ${seed} read p95 ${i}`, cols.stats.p95?.[i], b ? b.sketch.quantile(0.95) : null);
          same(`seed ${seed} read last ${i}`, cols.stats.last?.[i], b ? b.last : null);
          if (options.kind === 'counter') same(`seed ${seed} read rate ${i}`, cols.stats.rate?.[i], b ? b.sum : null);
        }
      }
    }
    console.log(
      `bucket math: ${CASES} cases, ${buckets} buckets checked, ${refused} points refused; worst percentile error ${(worst.error * 100).toFixed(4)} %, ${worst.ofAlpha.toFixed(12)} of α (seed ${worst.seed}, q ${worst.q})`,
    );
    expect(problems).toEqual([]);
    expect(buckets).toBeGreaterThan(CASES * 3);
    expect(refused).toBeGreaterThan(0);
  });
});
