/**
 * Latency histogram in microseconds, log-linear (32 sub-buckets per power of two, so a
 * percentile is within ~3% of the true value), fixed size, cheap to merge and to send
 * between processes. Exact count, sum and max are kept beside the buckets.
 */
const SUB_BITS = 5;
const SUB = 1 << SUB_BITS;
const LINEAR = SUB * 2; // values below 64 µs get one bucket each
const POWERS = 40; // up to 2^40 µs (~12 days)
export const HISTOGRAM_SIZE = LINEAR + (POWERS - SUB_BITS - 1) * SUB;

export interface HistogramData {
  buckets: Uint32Array;
  count: number;
  sum: number;
  max: number;
}

export interface LatencySummary {
  count: number;
  /** Milliseconds. */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

function indexOf(us: number): number {
  if (us < LINEAR) return us;
  const exp = 31 - Math.clz32(us);
  const sub = (us >>> (exp - SUB_BITS)) & (SUB - 1);
  return Math.min(HISTOGRAM_SIZE - 1, LINEAR + (exp - SUB_BITS - 1) * SUB + sub);
}

/** The middle of a bucket, µs. */
function bucketValue(index: number): number {
  if (index < LINEAR) return index;
  const exp = Math.floor((index - LINEAR) / SUB) + SUB_BITS + 1;
  const sub = (index - LINEAR) % SUB;
  const width = 2 ** (exp - SUB_BITS);
  return (SUB + sub) * width + width / 2;
}

export class Histogram implements HistogramData {
  buckets = new Uint32Array(HISTOGRAM_SIZE);
  count = 0;
  sum = 0;
  max = 0;

  record(us: number): void {
    const v = us > 0 ? Math.min(Math.round(us), 0xffffffff) : 0;
    this.buckets[indexOf(v)]++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  add(other: HistogramData): void {
    for (let i = 0; i < HISTOGRAM_SIZE; i++) this.buckets[i] = (this.buckets[i] as number) + (other.buckets[i] as number);
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  /** A copy for another process (structured clone keeps the typed array). */
  data(): HistogramData {
    return { buckets: this.buckets.slice(), count: this.count, sum: this.sum, max: this.max };
  }

  /** The value below which `p` percent of the samples fall, µs. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_SIZE; i++) {
      seen += this.buckets[i] as number;
      if (seen >= rank) return Math.min(bucketValue(i), this.max);
    }
    return this.max;
  }

  summary(): LatencySummary {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: this.count,
      p50: ms(this.percentile(50)),
      p95: ms(this.percentile(95)),
      p99: ms(this.percentile(99)),
      max: ms(this.max),
      mean: this.count ? ms(this.sum / this.count) : 0,
    };
  }

  static merge(parts: readonly HistogramData[]): Histogram {
    const h = new Histogram();
    for (const p of parts) h.add(p);
    return h;
  }
}
