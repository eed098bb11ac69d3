import { ByteReader, ByteWriter, MetricDecodeError } from './bytes.js';

/**
 * A mergeable quantile sketch in the manner of DDSketch (Masson, Rim, Lee, VLDB 2019).
 *
 * A value x > 0 falls in bin i = ceil(log_γ x), with γ = (1 + α) / (1 − α); the bin answers
 * 2γ^i / (γ + 1), which is within a relative error α of every value in (γ^(i−1), γ^i]. Negative
 * values use the same bins of |x| on their own side, and zero has a bin of its own. So
 * `quantile(q)` answers the nearest-rank q-quantile — the value of rank ⌈q·n⌉ (at least 1) of the
 * sorted values — within a relative error α (1 % by default; plus ~1e-15 of float rounding),
 * and the first and last ranks exactly (min and max are kept exact, with the count).
 *
 * Bins are sparse: one sorted array of (key, count) pairs that grows with the distinct bins a
 * sketch holds (doubling while below 8 bins, then by a quarter; a decoded or merged sketch holds
 * exactly its bins), so a small sketch stays small; at α = 1 % one decade of values spans ~115
 * bins. Measured with the v8 heap, bins of exactly their size (Node 20, thousands of sketches
 * at a time, α = 1 %, log-normal values, median 100, σ = 1):
 *
 *   points            0      1     10      100    10,000
 *   bins              0      1     10       75       290
 *   heap bytes     ~155   ~190   ~270   ~1,600    ~5,600
 *   encoded bytes    12     33     51      181       613
 *
 * The number of bins is capped (`maxBins`, 2,048 by default, i.e. 32 KB at most): past it the
 * bins of the lowest values are folded into the lowest bin kept. At α = 1 % the cap covers a ratio
 * of 10^17 between the smallest and the largest magnitude, so real data rarely reaches it; when
 * it does, quantiles that fall among the folded values are over-estimated (the bound no longer
 * holds for them), the others keep it. Folding depends only on the set of bins seen, never on
 * the order, so `merge` stays exact: the merge of two sketches equals the sketch of the union of
 * their values, bin for bin.
 */

export interface SketchOptions {
  /** The relative error bound α of quantiles, in (0, 1): 0.0001 to 0.25. Default 0.01. */
  relativeAccuracy?: number;
  /** The most bins kept, 16 to 65,536; default 2,048. */
  maxBins?: number;
}

export type SketchErrorReason = 'value' | 'count' | 'quantile' | 'options' | 'mismatch';

/** A value, count, quantile or option out of its domain, or a merge of sketches of other parameters. */
export class SketchError extends Error {
  override readonly name = 'SketchError';
  constructor(
    readonly reason: SketchErrorReason,
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_RELATIVE_ACCURACY = 0.01;
export const DEFAULT_MAX_BINS = 2048;
const MIN_ACCURACY = 0.0001;
const MAX_ACCURACY = 0.25;
/** Keys of positive values are OFFSET + i, of negative values −OFFSET − i, zero is 0: one sorted key space, in value order. */
const OFFSET = 2 ** 24;
/** |i| stays below this for every finite float64 at α ≥ 0.0001 (|ln x| ≤ 745, ln γ ≥ 2α). */
const MAX_INDEX = 4_000_000;
const FORMAT = 1;
const EMPTY: number[] = [];

/** The parameters of a sketch, shared by every sketch made with the same options. */
class Mapping {
  readonly lnGamma: number;
  readonly multiplier: number;
  readonly #cache = new Map<number, number>();

  constructor(
    readonly relativeAccuracy: number,
    readonly maxBins: number,
  ) {
    const gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
    this.lnGamma = Math.log(gamma);
    this.multiplier = 2 / (gamma + 1);
  }

  key(value: number): number {
    if (value > 0) return OFFSET + Math.ceil(Math.log(value) / this.lnGamma);
    if (value < 0) return -OFFSET - Math.ceil(Math.log(-value) / this.lnGamma);
    return 0;
  }

  /** The value a bin answers: 2γ^i / (γ + 1). */
  value(key: number): number {
    if (key === 0) return 0;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const i = key > 0 ? key - OFFSET : -key - OFFSET;
    const magnitude = Math.exp(i * this.lnGamma) * this.multiplier;
    const v = key > 0 ? magnitude : -magnitude;
    if (this.#cache.size < 65_536) this.#cache.set(key, v);
    return v;
  }

  static validKey(key: number): boolean {
    return key === 0 || (Math.abs(key) >= OFFSET - MAX_INDEX && Math.abs(key) <= OFFSET + MAX_INDEX);
  }
}

const mappings = new Map<string, Mapping>();

function mappingFor(options: SketchOptions): Mapping {
  const alpha = options.relativeAccuracy ?? DEFAULT_RELATIVE_ACCURACY;
  const maxBins = options.maxBins ?? DEFAULT_MAX_BINS;
  if (!(alpha >= MIN_ACCURACY && alpha <= MAX_ACCURACY)) throw new SketchError('options', `relativeAccuracy must be in [${MIN_ACCURACY}, ${MAX_ACCURACY}]`);
  if (!Number.isInteger(maxBins) || maxBins < 16 || maxBins > 65_536) throw new SketchError('options', 'maxBins must be an integer in [16, 65536]');
  const id = `${alpha}/${maxBins}`;
  let m = mappings.get(id);
  if (!m) {
    m = new Mapping(alpha, maxBins);
    mappings.set(id, m);
  }
  return m;
}

export class Sketch {
  readonly #m: Mapping;
  /** Sorted by key: key0, count0, key1, count1, … up to #len; the rest is spare room. */
  #bins: number[] = EMPTY;
  #len = 0;
  #count = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = Number.NEGATIVE_INFINITY;

  constructor(options: SketchOptions = {}) {
    this.#m = mappingFor(options);
  }

  get relativeAccuracy(): number {
    return this.#m.relativeAccuracy;
  }
  get maxBins(): number {
    return this.#m.maxBins;
  }
  get count(): number {
    return this.#count;
  }
  /** The exact smallest value; NaN when empty. */
  get min(): number {
    return this.#count === 0 ? Number.NaN : this.#min;
  }
  /** The exact largest value; NaN when empty. */
  get max(): number {
    return this.#count === 0 ? Number.NaN : this.#max;
  }
  /** The number of bins held. */
  get binCount(): number {
    return this.#len / 2;
  }

  /** Adds a finite `value`, `count` times (a positive safe integer). */
  add(value: number, count = 1): void {
    if (!Number.isFinite(value)) throw new SketchError('value', 'a sketch holds finite numbers only');
    if (!Number.isSafeInteger(count) || count < 1) throw new SketchError('count', 'count must be a positive safe integer');
    const v = value === 0 ? 0 : value; // −0 is 0
    this.#insert(this.#m.key(v), count);
    this.#count += count;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /** The bin key of a finite `value` (not −0): what `addKeyed` takes, the same for every sketch of the same options. */
  keyOf(value: number): number {
    return this.#m.key(value);
  }

  /**
   * `add` of one finite `value` (not −0) whose bin key `keyOf` gave, by a sketch of the same
   * options: a value added to several sketches (one per resolution) has its key computed once.
   */
  addKeyed(value: number, key: number): void {
    this.#insert(key, 1);
    this.#count++;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  #insert(key: number, count: number): void {
    const bins = this.#bins;
    const len = this.#len;
    let lo = 0;
    let hi = len / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((bins[mid * 2] as number) < key) lo = mid + 1;
      else hi = mid;
    }
    const at = lo * 2;
    if (at < len && bins[at] === key) {
      bins[at + 1] = (bins[at + 1] as number) + count;
      return;
    }
    if (at === 0 && len / 2 >= this.#m.maxBins) {
      // Below the lowest bin kept of a full sketch: folded into it.
      bins[1] = (bins[1] as number) + count;
      return;
    }
    if (len + 2 <= bins.length) {
      for (let j = len - 1; j >= at; j--) bins[j + 2] = bins[j] as number;
      bins[at] = key;
      bins[at + 1] = count;
    } else {
      // Double while small, then grow by a quarter. Only a store's live buckets hold their bins
      // this way (a bucket a few seconds old is packed, a decoded or merged one is exact), so
      // spare room costs little, and growing one bin at a time cost a new array per new bin.
      const pairs = len / 2;
      const next: number[] = new Array((pairs < 8 ? Math.max(2, pairs * 2) : Math.ceil(pairs * 1.25)) * 2).fill(0);
      for (let j = 0; j < at; j++) next[j] = bins[j] as number;
      next[at] = key;
      next[at + 1] = count;
      for (let j = at; j < len; j++) next[j + 2] = bins[j] as number;
      this.#bins = next;
    }
    this.#len = len + 2;
    if (this.#len / 2 > this.#m.maxBins) this.#fold();
  }

  /** Folds the lowest bins into the lowest one kept until at most maxBins remain. */
  #fold(): void {
    const bins = this.#bins;
    const excess = this.#len / 2 - this.#m.maxBins;
    if (excess <= 0) return;
    let folded = 0;
    for (let i = 0; i <= excess; i++) folded += bins[i * 2 + 1] as number;
    const shift = excess * 2;
    for (let j = shift; j < this.#len; j++) bins[j - shift] = bins[j] as number;
    bins[1] = folded;
    this.#len -= shift;
  }

  /** Adds every value of `other` (same relativeAccuracy and maxBins): exact, as if its values had been added here. */
  merge(other: Sketch): void {
    if (other.#m !== this.#m) throw new SketchError('mismatch', 'sketches of different relativeAccuracy or maxBins do not merge');
    if (other.#count === 0) return;
    const a = this.#bins;
    const b = other.#bins;
    const al = this.#len;
    const bl = other.#len;
    const out: number[] = [];
    let i = 0;
    let j = 0;
    while (i < al || j < bl) {
      const ka = i < al ? (a[i] as number) : Number.POSITIVE_INFINITY;
      const kb = j < bl ? (b[j] as number) : Number.POSITIVE_INFINITY;
      if (ka === kb) {
        out.push(ka, (a[i + 1] as number) + (b[j + 1] as number));
        i += 2;
        j += 2;
      } else if (ka < kb) {
        out.push(ka, a[i + 1] as number);
        i += 2;
      } else {
        out.push(kb, b[j + 1] as number);
        j += 2;
      }
    }
    this.#bins = out;
    this.#len = out.length;
    this.#fold();
    this.#bins = out.slice(0, this.#len); // without the spare room push leaves
    this.#count += other.#count;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  /**
   * The nearest-rank q-quantile (q in [0, 1]): within relativeAccuracy of the value of rank
   * max(1, ⌈q·n⌉); the first and the last rank exactly. NaN when empty.
   */
  quantile(q: number): number {
    if (!(q >= 0 && q <= 1)) throw new SketchError('quantile', 'q must be in [0, 1]');
    const n = this.#count;
    if (n === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * n));
    if (rank === 1) return this.#min;
    if (rank >= n) return this.#max;
    const bins = this.#bins;
    let seen = 0;
    for (let i = 0; i < this.#len; i += 2) {
      seen += bins[i + 1] as number;
      if (seen >= rank) return Math.min(this.#max, Math.max(this.#min, this.#m.value(bins[i] as number)));
    }
    return this.#max;
  }

  /** A copy. */
  clone(): Sketch {
    const copy = new Sketch({ relativeAccuracy: this.#m.relativeAccuracy, maxBins: this.#m.maxBins });
    copy.#bins = this.#bins.slice(0, this.#len);
    copy.#len = this.#len;
    copy.#count = this.#count;
    copy.#min = this.#min;
    copy.#max = this.#max;
    return copy;
  }

  /** The bins as [key, count] pairs, lowest value first (for comparisons and tests). */
  bins(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.#len; i += 2) out.push([this.#bins[i] as number, this.#bins[i + 1] as number]);
    return out;
  }

  /** The same parameters, values and bins. */
  equals(other: Sketch): boolean {
    if (other.#m !== this.#m || other.#count !== this.#count) return false;
    if (this.#count > 0 && (!Object.is(other.#min, this.#min) || !Object.is(other.#max, this.#max))) return false;
    if (this.#len !== other.#len) return false;
    for (let i = 0; i < this.#len; i++) if (this.#bins[i] !== other.#bins[i]) return false;
    return true;
  }

  /**
   * The binary form: version, α (float64), maxBins, then — when not empty — min and max
   * (float64), the number of bins, and per bin its key (zigzag varint, as a delta from the
   * previous key) and its count (varint). The count is the sum of the bins' counts.
   */
  encode(): Uint8Array {
    const w = new ByteWriter();
    this.writeTo(w);
    return w.finish();
  }

  /** @internal Appends the binary form to a writer (used by the bucket codec). */
  writeTo(w: ByteWriter): void {
    w.u8(FORMAT);
    w.f64(this.#m.relativeAccuracy);
    w.varint(this.#m.maxBins);
    const pairs = this.#len / 2;
    w.varint(pairs);
    if (pairs === 0) return;
    w.f64(this.#min);
    w.f64(this.#max);
    let previous = 0;
    for (let i = 0; i < this.#len; i += 2) {
      const key = this.#bins[i] as number;
      w.zigzag(key - previous);
      w.varint(this.#bins[i + 1] as number);
      previous = key;
    }
  }

  /** Decodes `encode()`'s bytes; throws `MetricDecodeError` for anything else. */
  static decode(bytes: Uint8Array): Sketch {
    const r = new ByteReader(bytes);
    const s = Sketch.readFrom(r);
    r.end();
    return s;
  }

  /** @internal Reads one sketch from a reader (used by the bucket codec). */
  static readFrom(r: ByteReader): Sketch {
    if (r.u8() !== FORMAT) throw new MetricDecodeError('unknown sketch format');
    const relativeAccuracy = r.finite();
    const maxBins = r.varint();
    let s: Sketch;
    try {
      s = new Sketch({ relativeAccuracy, maxBins });
    } catch (e) {
      throw new MetricDecodeError(`sketch parameters: ${(e as Error).message}`);
    }
    const pairs = r.varint();
    if (pairs > maxBins) throw new MetricDecodeError('more bins than maxBins');
    if (pairs === 0) return s;
    const min = r.finite();
    const max = r.finite();
    if (min > max) throw new MetricDecodeError('min above max');
    const bins: number[] = [];
    let key = 0;
    let count = 0;
    for (let i = 0; i < pairs; i++) {
      const delta = r.zigzag();
      if (i > 0 && delta <= 0) throw new MetricDecodeError('bin keys not increasing');
      key += delta;
      if (!Mapping.validKey(key)) throw new MetricDecodeError('bin key out of range');
      const c = r.varint();
      if (c < 1) throw new MetricDecodeError('empty bin');
      count += c;
      if (!Number.isSafeInteger(count)) throw new MetricDecodeError('count out of range');
      bins.push(key, c);
    }
    // min and max must fall in the first and last bins (min may lie below a folded first bin).
    const m = s.#m;
    if (m.key(max) !== bins[bins.length - 2] || m.key(min) > (bins[0] as number)) throw new MetricDecodeError('min or max outside the bins');
    if (pairs < maxBins && m.key(min) !== bins[0]) throw new MetricDecodeError('min outside the bins');
    s.#bins = bins;
    s.#len = bins.length;
    s.#count = count;
    s.#min = min;
    s.#max = max;
    return s;
  }
}
