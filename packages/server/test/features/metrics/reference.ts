/**
 * A seeded point generator and a reference that computes buckets WITHOUT the product's code:
 * grouping by floor(ts / step), sorting, exact nearest-rank percentiles, and sums in exact
 * integer arithmetic (BigInt), rounded once to the nearest float64.
 */
import { seeded } from '../../../../../test/helpers/seeded.js';

/** The seeded PRNG of the tests (mulberry32), so every case is reproducible from its seed. */
export const prng = seeded;

export type Shape = 'uniform' | 'lognormal' | 'constant' | 'signed' | 'integers' | 'wide';
export const SHAPES: readonly Shape[] = ['uniform', 'lognormal', 'constant', 'signed', 'integers', 'wide'];

export interface GeneratedPoint {
  /** The clock when the point arrives. */
  wall: number;
  ts: number;
  value: number;
  /** Global arrival order. */
  arrival: number;
}

export interface Case {
  seed: number;
  shape: Shape;
  lateness: number;
  maxSkew: number;
  points: GeneratedPoint[];
}

/**
 * Points arrive at an advancing wall clock, in steady runs and bursts; most carry a ts a little
 * behind their arrival (out of order within the lateness), some repeat an earlier ts exactly, some
 * are later than the lateness allows, some ahead of the clock (within the skew and beyond it).
 */
export function generate(seed: number): Case {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const shape = SHAPES[seed % SHAPES.length] as Shape;
  const lateness = pick([10_000, 10_000, 2_000, 30_000]);
  const maxSkew = pick([5_000, 1_000]);
  const n = 1 + Math.floor(r() ** 2 * 400);
  const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const constant = pick([0, 42, -7.25, 0.1]);
  const value = (): number => {
    switch (shape) {
      case 'uniform':
        return r() * 1000;
      case 'lognormal':
        return 50 * Math.exp(1.5 * normal());
      case 'constant':
        return constant;
      case 'signed': {
        const u = r();
        return u < 0.2 ? 0 : u < 0.6 ? -Math.exp(3 * normal()) : Math.exp(3 * normal());
      }
      case 'integers':
        return Math.floor(r() * 20) - 5;
      case 'wide':
        return (r() < 0.5 ? -1 : 1) * 10 ** (r() * 24 - 12);
    }
  };
  let wall = 1_750_000_000_000 + Math.floor(r() * 1e7);
  const points: GeneratedPoint[] = [];
  let burst = 0;
  for (let i = 0; i < n; i++) {
    if (burst > 0) burst--;
    else if (r() < 0.05) burst = Math.floor(r() * 40);
    else wall += Math.floor(r() * (r() < 0.1 ? 5_000 : 600));
    const u = r();
    let ts: number;
    if (u < 0.75) ts = wall - Math.floor(r() * lateness * 0.9);
    else if (u < 0.83 && points.length > 0) ts = (points[points.length - 1 - Math.floor(r() * Math.min(points.length, 5))] as GeneratedPoint).ts;
    else if (u < 0.9) ts = wall - lateness - Math.floor(r() * lateness * 2);
    else if (u < 0.98) ts = wall + Math.floor(r() * Math.min(maxSkew, lateness / 4));
    else ts = wall + maxSkew + 1 + Math.floor(r() * 10_000);
    points.push({ wall, ts, value: value(), arrival: i });
  }
  return { seed, shape, lateness, maxSkew, points };
}

/** The rule the store promises: at most maxSkew ahead of the clock, at most lateness behind the newest accepted ts. */
export function acceptedPoints(c: Case): GeneratedPoint[] {
  let newest = Number.NEGATIVE_INFINITY;
  const out: GeneratedPoint[] = [];
  for (const p of c.points) {
    if (p.ts > p.wall + c.maxSkew || p.ts < newest - c.lateness) continue;
    newest = Math.max(newest, p.ts);
    out.push(p);
  }
  return out;
}

export interface ReferenceBucket {
  start: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  avg: number;
  last: number;
  /** Sorted values. */
  sorted: number[];
}

export function referenceBuckets(points: readonly GeneratedPoint[], step: number): Map<number, ReferenceBucket> {
  const groups = new Map<number, GeneratedPoint[]>();
  for (const p of points) {
    const start = Math.floor(p.ts / step) * step;
    const g = groups.get(start);
    if (g) g.push(p);
    else groups.set(start, [p]);
  }
  const out = new Map<number, ReferenceBucket>();
  for (const [start, g] of groups) {
    const sorted = g.map((p) => p.value).sort((a, b) => a - b);
    let latest = g[0] as GeneratedPoint;
    for (const p of g) if (p.ts > latest.ts || (p.ts === latest.ts && p.arrival > latest.arrival)) latest = p;
    const sum = exactSum(sorted);
    out.set(start, {
      start,
      count: g.length,
      sum,
      min: sorted[0] as number,
      max: sorted[sorted.length - 1] as number,
      avg: sum / g.length,
      last: latest.value,
      sorted,
    });
  }
  return out;
}

/** The nearest-rank q-quantile: the value of rank max(1, ceil(q·n)). */
export function nearestRank(sorted: readonly number[], q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] as number;
}

const SCALE = 1074n; // every finite float64 is an integer multiple of 2^-1074

function toScaledBigInt(x: number): bigint {
  if (x === 0) return 0n;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const exponent = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: bigint;
  if (exponent === 0) e = -1074n;
  else {
    mantissa |= 1n << 52n;
    e = BigInt(exponent) - 1075n;
  }
  const scaled = mantissa << (e + SCALE);
  return x < 0 ? -scaled : scaled;
}

/** The exact sum of float64s, rounded once to the nearest float64 (ties to even). */
export function exactSum(values: readonly number[]): number {
  let total = 0n;
  for (const v of values) total += toScaledBigInt(v);
  if (total === 0n) return 0;
  const negative = total < 0n;
  let m = negative ? -total : total;
  // Keep 64 significant bits and a sticky bit, so Number() rounds as the exact value would.
  const bits = m.toString(2).length;
  let shift = 0;
  if (bits > 64) {
    shift = bits - 64;
    const dropped = m & ((1n << BigInt(shift)) - 1n);
    m >>= BigInt(shift);
    if (dropped !== 0n) m |= 1n;
  }
  const magnitude = Number(m) * 2 ** (shift - 1074);
  return negative ? -magnitude : magnitude;
}
