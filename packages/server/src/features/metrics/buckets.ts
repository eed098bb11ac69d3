import { Bucket } from './bucket.js';
import { ByteReader, ByteWriter, MetricDecodeError } from './bytes.js';
import { Ring } from './ring.js';
import { Sketch, type SketchOptions } from './sketch.js';

/**
 * The buckets of one series (one label set) at every resolution, in memory, on one node.
 *
 * A point is ingested into every resolution at once. It may be up to `lateness` (10 s) behind the
 * newest timestamp the store has seen: it then lands in its own past buckets, and those buckets
 * are reported by `drainChanged()` like any other, so a pusher re-sends them as corrections.
 * Older points, points further than `maxSkew` (5 s) ahead of the clock, and non-finite values
 * are refused with a typed result; nothing is thrown and nothing is written.
 *
 * Housekeeping is driven by the injected clock (no timers here): a resolution of step s and
 * retention n keeps the buckets starting at or after ⌊now / s⌋·s − (n − 1)·s; `sweep()` drops
 * the others, and a store whose buckets are all gone (`size === 0`) may be freed by its owner —
 * an idle series is gone after its longest retention. `sweep()` also packs the buckets that end
 * more than 2 s behind the newest point into their binary form, 4 to 8 times smaller (see
 * ring.ts); a late point for a packed bucket unpacks it until the next sweep.
 *
 * Points that `add` takes wait in the store's pending run (up to 32) and go into the buckets
 * together when the run is full or anything reads the buckets (reads, drains, exports, merges,
 * sweeps): the same buckets, byte for byte, as one point at a time, for a fraction of the cost
 * when each store gets one point of a batch spread over thousands of stores (each point would
 * otherwise touch three rings, buckets and sketches far apart in memory).
 *
 * Partial buckets from other nodes merge exactly (`exportBuckets` / `mergeBuckets`): counts,
 * exact sums, min, max, last and sketches all merge without loss. A merge is additive: a node
 * sends each point once (the delta since its previous push), never its whole bucket again.
 *
 * Default retention: 1 s buckets for 1 min, 10 s buckets for 5 min, 1 min buckets for 15 min
 * (longer trends belong to the storage layer, which can keep 1 min buckets). Its memory, measured
 * with the v8 heap (Node 20, α = 1 %, log-normal values, swept every second; a live bucket costs
 * ~16 bytes a bin, a packed one ~2 bytes a bin plus ~90 bytes):
 *
 *   a series taking 25 points/s (250,000 points/s over 10,000 series, the benchmark's load):
 *     1 s  × 60 buckets: ~260 B each (~25 points, ~24 bins)            ≈ 15.7 KB
 *     10 s × 30 buckets: ~560 B each (~250 points, ~135 bins)          ≈ 16.9 KB
 *     1 min × 15 buckets: ~700 B each packed (~250 bins), the live one ~4.6 KB ≈ 14.7 KB
 *     one store, three rings                                            ≈ 47 KB  (≤ 48 KB)
 *     (and while points come, the pending run: 32 points, ~0.8 KB; freed by a sweep after none came)
 *   a point a second: ≈ 22 KB; 100 points/s: ≈ 60 KB (more distinct values, more bins).
 *
 * The worst case is bounded by the sketch's cap (2,048 bins a bucket), not by the point rate.
 */

export type SeriesKind = 'gauge' | 'counter' | 'distribution';

export interface ResolutionOptions {
  /** Bucket width, ms (a positive integer). */
  step: number;
  /** Buckets kept, counting the current one. */
  retention: number;
}

export const DEFAULT_RESOLUTIONS: readonly ResolutionOptions[] = Object.freeze([
  Object.freeze({ step: 1000, retention: 60 }),
  Object.freeze({ step: 10_000, retention: 30 }),
  Object.freeze({ step: 60_000, retention: 15 }),
]);
export const DEFAULT_LATENESS_MS = 10_000;
export const DEFAULT_MAX_SKEW_MS = 5_000;

export interface Clock {
  /** ms since the epoch. */
  now(): number;
}

export interface BucketStoreOptions {
  kind: SeriesKind;
  clock: Clock;
  /** Default `DEFAULT_RESOLUTIONS`. */
  resolutions?: readonly ResolutionOptions[];
  /** How far a point may lag the newest timestamp, ms; default 10,000. */
  lateness?: number;
  /** How far a point may lead the clock, ms; default 5,000. */
  maxSkew?: number;
  sketch?: SketchOptions;
}

export type Stat = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'last' | 'p50' | 'p95' | 'p99' | 'rate';
export const STATS: readonly Stat[] = ['count', 'sum', 'min', 'max', 'avg', 'last', 'p50', 'p95', 'p99', 'rate'];

export type RefusalCode = 'value' | 'timestamp' | 'too-late' | 'too-early' | 'resolution' | 'stat' | 'decode';

/** A refused call: nothing was written. */
export interface Refusal {
  readonly ok: false;
  readonly code: RefusalCode;
  readonly message: string;
}

/** `late`: the point is behind the newest timestamp, so buckets already sent may have changed. */
export type IngestResult = { readonly ok: true; readonly late: boolean } | Refusal;

/** Columnar buckets: bucket i starts at `start + i·step`; empty buckets have count 0 and null statistics. */
export interface Columns {
  readonly ok: true;
  readonly start: number;
  readonly step: number;
  /** The window began before the retention and was clipped to it. */
  readonly truncated: boolean;
  readonly count: number[];
  readonly stats: Partial<Record<Exclude<Stat, 'count'>, Array<number | null>>>;
}

export interface MergeResult {
  readonly ok: true;
  /** Buckets merged, as [step, start]. */
  readonly changed: Array<[number, number]>;
  /** Buckets outside this store's retention, ignored. */
  readonly dropped: number;
}

const refusal = (code: RefusalCode, message: string): Refusal => Object.freeze({ ok: false, code, message });
const ON_TIME = Object.freeze({ ok: true, late: false } as const);
const LATE = Object.freeze({ ok: true, late: true } as const);
const BAD_VALUE = refusal('value', 'the value is not a finite number');
const BAD_TS = refusal('timestamp', 'the timestamp is not a non-negative integer of ms');
const TOO_LATE = refusal('too-late', 'the timestamp is older than the lateness or the retention allows');
const TOO_EARLY = refusal('too-early', 'the timestamp is further ahead of the clock than the allowed skew');
const UNKNOWN_RESOLUTION = refusal('resolution', 'no such resolution');
const FORMAT = 1;
/** Room for a run's values and their sketch bin keys (`addColumns`, a pending run), grown to the longest run. */
let scratchValues = new Float64Array(0);
let scratchKeys = new Float64Array(0);
/** Points a store holds back before writing them into its buckets together (anything reading the buckets writes them first). */
const PENDING_POINTS = 32;

/** Grows the scratch room to hold `n` values and keys (at least a pending run's). */
function scratchFor(n: number): void {
  if (scratchKeys.length >= n) return;
  scratchValues = new Float64Array(Math.max(n, PENDING_POINTS));
  scratchKeys = new Float64Array(Math.max(n, PENDING_POINTS));
}
/** Buckets that end this far behind the newest point are packed by `sweep()`; a later point for one unpacks it. */
const PACK_AFTER_MS = 2000;

export class BucketStore {
  readonly kind: SeriesKind;
  readonly lateness: number;
  readonly maxSkew: number;
  readonly #clock: Clock;
  readonly #rings: Ring[];
  readonly #sketch: SketchOptions;
  #newest = Number.NEGATIVE_INFINITY;
  /** An empty sketch of the store's options: the bin keys of a run of points (`addColumns`). */
  readonly #keyer: Sketch;
  /** Points added and not yet in the buckets (ts, value, arrival; `#pendingLength` numbers used), or null. */
  #pending: Float64Array | null = null;
  #pendingLength = 0;
  /** Numbers of `#pending` whose points' buckets are not to be noted as changed (`forgetChanged`). */
  #quiet = 0;
  /** A point was added since the previous sweep. */
  #used = false;

  constructor(options: BucketStoreOptions) {
    this.kind = options.kind;
    this.#clock = options.clock;
    this.lateness = options.lateness ?? DEFAULT_LATENESS_MS;
    this.maxSkew = options.maxSkew ?? DEFAULT_MAX_SKEW_MS;
    this.#sketch = { ...options.sketch };
    this.#keyer = new Sketch(this.#sketch); // validates the sketch options once
    const resolutions = options.resolutions ?? DEFAULT_RESOLUTIONS;
    this.#rings = resolutions.map((r) => {
      if (!Number.isSafeInteger(r.step) || r.step <= 0 || !Number.isSafeInteger(r.retention) || r.retention <= 0) {
        throw new RangeError('a resolution needs a positive integer step (ms) and retention (buckets)');
      }
      return new Ring(r.step, r.retention, this.maxSkew, this.#sketch);
    });
    if (new Set(resolutions.map((r) => r.step)).size !== resolutions.length) throw new RangeError('resolutions must differ');
  }

  /** The resolutions, as configured. */
  get resolutions(): ResolutionOptions[] {
    return this.#rings.map((r) => ({ step: r.step, retention: r.retention }));
  }

  /** The newest timestamp ingested (−Infinity before the first). */
  get newest(): number {
    return this.#newest;
  }

  /** Buckets held, over every resolution. */
  get size(): number {
    this.#flush();
    let n = 0;
    for (const ring of this.#rings) n += ring.size;
    return n;
  }

  /**
   * Adds one point to its bucket at every resolution. `arrival` orders points of the same
   * timestamp for `last` (a finite number; default: the clock); a refusal writes nothing.
   */
  ingest(ts: number, value: number, arrival?: number): IngestResult {
    const now = this.#clock.now();
    const refused = this.refusal(ts, value, this.#newest, now);
    if (refused) return refused;
    return this.add(ts, value, arrival !== undefined && Number.isFinite(arrival) ? arrival : now);
  }

  /**
   * `ingest` of a point the caller has checked with `refusal` against this store, with nothing
   * written in between (a batch is checked whole, then written): no second check per point.
   * The point waits in the store's pending run (below) until something reads the buckets.
   */
  add(ts: number, value: number, arrival: number): { readonly ok: true; readonly late: boolean } {
    let run = this.#pending;
    if (run === null) {
      run = new Float64Array(PENDING_POINTS * 3);
      this.#pending = run;
    } else if (this.#pendingLength === run.length) this.#flush();
    const at = this.#pendingLength;
    run[at] = ts;
    run[at + 1] = value + 0; // −0 is 0
    run[at + 2] = arrival;
    this.#pendingLength = at + 3;
    this.#used = true;
    if (ts >= this.#newest) {
      this.#newest = ts;
      return ON_TIME;
    }
    return LATE;
  }

  /**
   * Writes the pending run into the buckets, in arrival order: each value's sketch bin once for
   * every resolution, one bucket lookup per bucket and resolution. Points of a store that many
   * stores share a batch (rows spread over label sets) each touch the store's three rings, their
   * buckets and sketches — memory far apart; written together per store, a run of them touches
   * it once.
   */
  #flush(): void {
    const n = this.#pendingLength / 3;
    if (n === 0) return;
    const run = this.#pending as Float64Array;
    // The points before `quiet` were added before the last `forgetChanged`: their buckets are not noted.
    const quiet = this.#quiet / 3;
    this.#pendingLength = 0;
    this.#quiet = 0;
    scratchFor(n);
    const keys = scratchKeys;
    const keyer = this.#keyer;
    for (let i = 0; i < n; i++) keys[i] = keyer.keyOf(run[i * 3 + 1] as number);
    for (const ring of this.#rings) {
      const step = ring.step;
      let start = Number.NaN;
      let bucket: Bucket | undefined;
      for (let i = 0; i < n; i++) {
        const t = run[i * 3] as number;
        const s = t - (t % step);
        if (s !== start || bucket === undefined) {
          start = s;
          bucket = ring.writable(s);
          if (i >= quiet) ring.touch(s);
        } else if (i === quiet) ring.touch(s);
        bucket.addKeyed(t, run[i * 3 + 1] as number, keys[i] as number, run[i * 3 + 2] as number);
      }
    }
  }

  /**
   * `add` of a run of points the caller has checked (`firstRefused` found none), in order:
   * `ts[i]` and `values[i]`, every point at `at` when `ts` is undefined. The same buckets as
   * one `add` per point, with one bucket lookup per bucket instead of per point and resolution,
   * and each value's sketch bin computed once for every resolution.
   */
  addColumns(ts: readonly unknown[] | undefined, values: readonly unknown[], at: number, arrival: number): void {
    this.#flush();
    const n = values.length;
    scratchFor(n);
    const vs = scratchValues;
    const keys = scratchKeys;
    const keyer = this.#keyer;
    let newest = this.#newest;
    for (let i = 0; i < n; i++) {
      const v = (values[i] as number) + 0; // −0 is 0
      vs[i] = v;
      keys[i] = keyer.keyOf(v);
      const t = ts === undefined ? at : (ts[i] as number);
      if (t > newest) newest = t;
    }
    for (const ring of this.#rings) {
      const step = ring.step;
      let start = Number.NaN;
      let bucket: Bucket | undefined;
      for (let i = 0; i < n; i++) {
        const t = ts === undefined ? at : (ts[i] as number);
        const s = t - (t % step);
        if (s !== start || bucket === undefined) {
          start = s;
          bucket = ring.writable(s);
          ring.touch(s);
        }
        bucket.addKeyed(t, vs[i] as number, keys[i] as number, arrival);
      }
    }
    this.#newest = newest;
  }

  /**
   * The index of the first point of `ts` and `values` from `from` on that `refusal` would refuse,
   * each checked against the newest timestamp before it (`newest`, then the run's), or −1: the
   * check of a run of points in one loop. `ts` undefined: every point at `now`.
   */
  firstRefused(ts: readonly unknown[] | undefined, values: readonly unknown[], from: number, newest: number, now: number): number {
    let horizon = Number.NEGATIVE_INFINITY;
    for (const ring of this.#rings) horizon = Math.max(horizon, ring.horizon(now));
    const ahead = now + this.maxSkew;
    const lateness = this.lateness;
    let last = newest;
    for (let i = from; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) return i;
      const t = ts === undefined ? now : ts[i];
      if (!Number.isSafeInteger(t)) return i;
      const ms = t as number;
      if (ms < 0 || ms > ahead || ms < last - lateness || ms < horizon) return i;
      if (ms > last) last = ms;
    }
    return -1;
  }

  /**
   * Why `ingest` would refuse a point if the newest timestamp were `newest`, or null: lets a
   * caller check a whole batch (whose earlier points move `newest`) before writing any of it.
   */
  refusal(ts: number, value: unknown, newest = this.#newest, now = this.#clock.now()): Refusal | null {
    if (typeof value !== 'number' || !Number.isFinite(value)) return BAD_VALUE;
    if (!Number.isSafeInteger(ts) || ts < 0) return BAD_TS;
    if (ts > now + this.maxSkew) return TOO_EARLY;
    if (ts < newest - this.lateness) return TOO_LATE;
    for (const ring of this.#rings) if (ts < ring.horizon(now)) return TOO_LATE;
    return null;
  }

  /**
   * Adds the observations gathered in `gathered` (a bucket of any start, not empty) at `ts`, to
   * the bucket of `ts` at every resolution, as if each had been ingested at `ts`: counts, sums,
   * min, max and sketches merge exactly. False (nothing written) when `ts` would be refused.
   */
  absorb(ts: number, gathered: Bucket): boolean {
    if (gathered.count === 0) return false;
    const now = this.#clock.now();
    if (this.refusal(ts, gathered.min, this.#newest, now)) return false;
    gathered.stampLast(ts, now);
    this.#flush();
    for (const ring of this.#rings) {
      const start = ts - (ts % ring.step);
      ring.writable(start).merge(gathered);
      ring.touch(start);
    }
    if (ts > this.#newest) this.#newest = ts;
    return true;
  }

  /** The buckets changed by `ingest` since the previous call, per step: the starts to (re-)send. */
  drainChanged(): Map<number, number[]> {
    this.#flush();
    const out = new Map<number, number[]>();
    for (const ring of this.#rings) {
      const changed = ring.changed;
      if (changed.length === 0) continue;
      ring.changed = [];
      if (changed.length > 1) changed.sort((a, b) => a - b);
      const starts: number[] = [];
      for (const s of changed) if (s !== starts[starts.length - 1] && ring.has(s)) starts.push(s);
      out.set(ring.step, starts);
    }
    return out;
  }

  /**
   * Forgets the buckets changed since `drainChanged` (no one follows this store), those of the
   * points still pending included.
   */
  forgetChanged(): void {
    for (const ring of this.#rings) if (ring.changed.length > 0) ring.changed.length = 0;
    this.#quiet = this.#pendingLength;
  }

  /** One bucket, or undefined when empty or evicted. Read-only: a packed bucket is a decoded copy, a live one is the bucket itself. */
  bucket(step: number, start: number): Bucket | undefined {
    this.#flush();
    return this.#ring(step)?.get(start);
  }

  /**
   * The buckets of [from, to) at one resolution, in columns. `from` is rounded down and `to` up to
   * the step; a window reaching before the retention is clipped (`truncated: true`); buckets
   * beyond the clock plus the skew cannot exist and are not listed.
   */
  read(step: number, from: number, to: number, stats: readonly Stat[] = this.#defaultStats()): Columns | Refusal {
    this.#flush();
    const ring = this.#ring(step);
    if (!ring) return UNKNOWN_RESOLUTION;
    if (!Number.isFinite(from) || !Number.isFinite(to)) return refusal('timestamp', 'from and to must be finite numbers of ms');
    for (const s of stats) {
      if (!STATS.includes(s) || (s === 'rate' && this.kind !== 'counter')) return refusal('stat', `no statistic ${String(s)} for a ${this.kind}`);
    }
    const now = this.#clock.now();
    const horizon = ring.horizon(now);
    let first = Math.floor(from / step) * step;
    const truncated = first < horizon;
    if (truncated) first = horizon;
    const end = Math.min(Math.ceil(to / step) * step, Math.floor((now + this.maxSkew) / step) * step + step);
    const n = Math.max(0, (end - first) / step);
    const count: number[] = new Array(n);
    const columns: Columns['stats'] = {};
    const wanted = stats.filter((s): s is Exclude<Stat, 'count'> => s !== 'count');
    for (const s of wanted) columns[s] = new Array(n);
    for (let i = 0; i < n; i++) {
      const b = ring.get(first + i * step);
      count[i] = b?.count ?? 0;
      for (const s of wanted) (columns[s] as Array<number | null>)[i] = b === undefined ? null : statOf(b, s, step);
    }
    return { ok: true, start: first, step, truncated, count, stats: columns };
  }

  /**
   * Housekeeping, driven by the clock (call it every second or so): drops the buckets past their
   * retention (returns how many) and packs the buckets 2 s behind the newest point.
   */
  sweep(): number {
    this.#flush();
    // A store that took no point since the previous sweep gives its pending room back.
    if (!this.#used) this.#pending = null;
    this.#used = false;
    const now = this.#clock.now();
    let dropped = 0;
    for (const ring of this.#rings) {
      dropped += ring.evict(ring.horizon(now));
      ring.pack(this.#newest - Math.min(this.lateness, PACK_AFTER_MS));
    }
    return dropped;
  }

  /** The given buckets of one resolution (those that exist), encoded for another node. */
  exportBuckets(step: number, starts: Iterable<number>): Uint8Array {
    this.#flush();
    const ring = this.#ring(step);
    const held = ring ? [...new Set(starts)].filter((s) => ring.has(s)) : [];
    const w = new ByteWriter();
    w.u8(FORMAT);
    w.varint(step);
    w.varint(held.length);
    for (const start of held) ring?.writeTo(w, start);
    return w.finish();
  }

  /**
   * Merges buckets from `exportBuckets` of another node's store of the same series. All or
   * nothing: malformed bytes, an unknown step, a misaligned start or other sketch parameters
   * refuse the whole payload. Buckets outside the retention are ignored and counted.
   */
  mergeBuckets(bytes: Uint8Array): MergeResult | Refusal {
    let step: number;
    const incoming: Bucket[] = [];
    try {
      const r = new ByteReader(bytes);
      if (r.u8() !== FORMAT) throw new MetricDecodeError('unknown format');
      step = r.varint();
      const n = r.varint();
      for (let i = 0; i < n; i++) incoming.push(Bucket.readFrom(r));
      r.end();
    } catch (e) {
      if (e instanceof MetricDecodeError) return refusal('decode', e.message);
      throw e;
    }
    const ring = this.#ring(step);
    if (!ring) return UNKNOWN_RESOLUTION;
    this.#flush();
    const probe = new Sketch(this.#sketch);
    for (const b of incoming) {
      if (b.start % step !== 0) return refusal('decode', 'a bucket start is not aligned to its step');
      if (b.count === 0) return refusal('decode', 'an empty bucket');
      if (b.lastTs >= b.start + step) return refusal('decode', 'a bucket holds a point outside it');
      if (b.sketch.relativeAccuracy !== probe.relativeAccuracy || b.sketch.maxBins !== probe.maxBins) return refusal('decode', 'other sketch parameters');
    }
    const now = this.#clock.now();
    const horizon = ring.horizon(now);
    const newestAllowed = now + this.maxSkew;
    const changed: Array<[number, number]> = [];
    let dropped = 0;
    for (const b of incoming) {
      if (b.start < horizon || b.start > newestAllowed) {
        dropped++;
        continue;
      }
      ring.writable(b.start).merge(b);
      changed.push([step, b.start]);
    }
    return { ok: true, changed, dropped };
  }

  #ring(step: number): Ring | undefined {
    return this.#rings.find((r) => r.step === step);
  }

  #defaultStats(): Stat[] {
    return this.kind === 'counter' ? [...STATS] : STATS.filter((s) => s !== 'rate');
  }
}

/** One statistic of a non-empty bucket of width `step` (ms). */
export function statOf(b: Bucket, s: Exclude<Stat, 'count'>, step: number): number {
  switch (s) {
    case 'sum':
      return b.sum;
    case 'min':
      return b.min;
    case 'max':
      return b.max;
    case 'avg':
      return b.avg;
    case 'last':
      return b.last;
    case 'p50':
      return b.sketch.quantile(0.5);
    case 'p95':
      return b.sketch.quantile(0.95);
    case 'p99':
      return b.sketch.quantile(0.99);
    case 'rate':
      return b.sum / (step / 1000);
  }
}
