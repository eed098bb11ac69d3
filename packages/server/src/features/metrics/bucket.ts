import { type ByteReader, type ByteWriter, MetricDecodeError } from './bytes.js';
import { addExact, exactSumValue, mergeExact } from './exact-sum.js';
import { Sketch, type SketchOptions } from './sketch.js';

/**
 * The statistics of one time bucket of one series: count, min and max (exact, held by the
 * sketch), an exactly rounded sum (so it does not depend on arrival order or on how partial
 * buckets were merged), the last value, and the quantile sketch.
 *
 * `last` is the value of the latest timestamp; between points of the same timestamp the later
 * arrival wins. An arrival is a number the caller stamps on each point (a node's clock in ms by
 * default): on one node, equal stamps go to the later ingest; between merged buckets, equal
 * (timestamp, arrival) pairs go to the larger value, so a merge is commutative and exact.
 */
export class Bucket {
  readonly sketch: Sketch;
  #sum: number[] = [];
  #lastTs = Number.NEGATIVE_INFINITY;
  #lastArrival = Number.NEGATIVE_INFINITY;
  #last = Number.NaN;

  constructor(
    /** The bucket's start, ms since the epoch. */
    readonly start: number,
    sketch: SketchOptions | Sketch = {},
  ) {
    this.sketch = sketch instanceof Sketch ? sketch : new Sketch(sketch);
  }

  get count(): number {
    return this.sketch.count;
  }
  get sum(): number {
    return exactSumValue(this.#sum);
  }
  get min(): number {
    return this.sketch.min;
  }
  get max(): number {
    return this.sketch.max;
  }
  /** sum / count; NaN when empty. */
  get avg(): number {
    return this.sketch.count === 0 ? Number.NaN : this.sum / this.sketch.count;
  }
  /** The value of the latest timestamp (NaN when empty). */
  get last(): number {
    return this.#last;
  }
  /** The timestamp of `last`. */
  get lastTs(): number {
    return this.#lastTs;
  }

  /** Adds a finite value at `ts` (ms) stamped `arrival`; the caller has validated both. */
  add(ts: number, value: number, arrival: number): void {
    this.sketch.add(value);
    this.#sum = addExact(this.#sum, value);
    if (ts > this.#lastTs || (ts === this.#lastTs && arrival >= this.#lastArrival)) {
      this.#lastTs = ts;
      this.#lastArrival = arrival;
      this.#last = value === 0 ? 0 : value;
    }
  }

  /** `add` of a finite value (not −0) whose sketch bin key is `key` (`Sketch.keyOf`). */
  addKeyed(ts: number, value: number, key: number, arrival: number): void {
    this.sketch.addKeyed(value, key);
    this.#sum = addExact(this.#sum, value);
    if (ts > this.#lastTs || (ts === this.#lastTs && arrival >= this.#lastArrival)) {
      this.#lastTs = ts;
      this.#lastArrival = arrival;
      this.#last = value;
    }
  }

  /** Adds every point of `other` (a bucket of the same start): exact. */
  merge(other: Bucket): void {
    this.sketch.merge(other.sketch);
    this.#sum = mergeExact(this.#sum, other.#sum);
    if (other.count > 0 && later(other.#lastTs, other.#lastArrival, other.#last, this.#lastTs, this.#lastArrival, this.#last)) {
      this.#lastTs = other.#lastTs;
      this.#lastArrival = other.#lastArrival;
      this.#last = other.#last;
    }
  }

  /**
   * Dates `last` at `ts` (stamped `arrival`): for a bucket that gathered observations without
   * timestamps (the system scope's latencies) before it is merged where they belong.
   */
  stampLast(ts: number, arrival: number): void {
    if (this.count === 0) return;
    this.#lastTs = ts;
    this.#lastArrival = arrival;
  }

  /** A copy. */
  clone(): Bucket {
    const copy = new Bucket(this.start, this.sketch.clone());
    copy.#sum = this.#sum.slice();
    copy.#lastTs = this.#lastTs;
    copy.#lastArrival = this.#lastArrival;
    copy.#last = this.#last;
    return copy;
  }

  /** Binary form: start, the sketch, the sum's partials, then (when not empty) last as ts − start, arrival, value. */
  writeTo(w: ByteWriter): void {
    w.varint(this.start);
    this.sketch.writeTo(w);
    w.varint(this.#sum.length);
    for (const p of this.#sum) w.f64(p);
    if (this.count === 0) return;
    w.varint(this.#lastTs - this.start);
    w.f64(this.#lastArrival);
    w.f64(this.#last);
  }

  /** Reads `writeTo`'s bytes; throws `MetricDecodeError` for anything inconsistent. */
  static readFrom(r: ByteReader): Bucket {
    const bucket = new Bucket(r.varint(), Sketch.readFrom(r));
    const partials = r.varint();
    if (partials > 64 || (bucket.count === 0 && partials > 0)) throw new MetricDecodeError('sum partials out of range');
    for (let i = 0; i < partials; i++) bucket.#sum.push(r.finite());
    if (bucket.count === 0) return bucket;
    bucket.#lastTs = bucket.start + r.varint();
    bucket.#lastArrival = r.finite();
    bucket.#last = r.finite();
    if (!Number.isSafeInteger(bucket.#lastTs) || bucket.#last < bucket.min || bucket.#last > bucket.max) throw new MetricDecodeError('last outside the bucket');
    return bucket;
  }
}

function later(ts: number, arrival: number, value: number, ts2: number, arrival2: number, value2: number): boolean {
  if (ts !== ts2) return ts > ts2;
  if (arrival !== arrival2) return arrival > arrival2;
  return value > value2;
}
