import type { MetricColumns } from '@switchboard/client';

/** Where a line's numbers come from: a series and statistic of one subscription's view. */
export interface WindowLine {
  readonly sub: string;
  readonly series: number;
  readonly stat: string;
  readonly emptyIsZero: boolean;
}

/** The latest value of a line: its newest bucket (NaN: none, or older than two buckets before the chart's newest). */
export interface Latest {
  value: number;
  t: number | null;
}

/**
 * The lines of one chart in typed arrays allocated once: slot i is the bucket
 * `end - (capacity - 1 - i)·step`, where `end` is the newest bucket any line has; each line is
 * read from its subscription's view (the SDK's, which several charts share). Refilled in place
 * before each draw (at most once per animation frame); a slot without a value is NaN.
 */
export class LineWindow {
  readonly capacity: number;
  readonly x: Float64Array;
  readonly columns: Float64Array[];
  length = 0;
  step = 1000;
  end = 0;

  constructor(
    readonly lines: readonly WindowLine[],
    buckets: number,
  ) {
    this.capacity = buckets + 1;
    this.x = new Float64Array(this.capacity);
    this.columns = lines.map(() => new Float64Array(this.capacity));
  }

  /** Refill from the views (`view(sub)`: null before a subscription's backfill); returns `[x, ...columns]` as views. */
  fill(view: (sub: string) => MetricColumns | null): Float64Array[] {
    let end = Number.NEGATIVE_INFINITY;
    for (const line of this.lines) {
      const v = view(line.sub);
      const t = v?.series[line.series]?.t;
      if (v && t && t.length > 0) {
        this.step = v.step;
        end = Math.max(end, t[t.length - 1] as number);
      }
    }
    for (const c of this.columns) c.fill(Number.NaN);
    if (!Number.isFinite(end)) {
      this.length = 0;
      return this.#views();
    }
    this.end = end;
    const first = end - (this.capacity - 1) * this.step;
    for (let i = 0; i < this.capacity; i++) this.x[i] = first + i * this.step;
    this.lines.forEach((line, k) => {
      const s = view(line.sub)?.series[line.series];
      const values = s?.stats[line.stat as keyof typeof s.stats];
      if (!s || !values) return;
      const column = this.columns[k] as Float64Array;
      for (let j = 0; j < s.t.length; j++) {
        const slot = Math.round(((s.t[j] as number) - first) / this.step);
        if (slot < 0 || slot >= this.capacity) continue;
        const v = values[j];
        column[slot] = v === null || v === undefined ? (line.emptyIsZero ? 0 : Number.NaN) : v;
      }
    });
    this.length = this.capacity;
    return this.#views();
  }

  /** The newest value of each line: a line without a bucket in the two before `end` (the newest bucket the server wrote) is 0 for rates, NaN otherwise. */
  latest(view: (sub: string) => MetricColumns | null, end: number): Latest[] {
    return this.lines.map((line) => {
      const s = view(line.sub)?.series[line.series];
      const values = s?.stats[line.stat as keyof typeof s.stats];
      const none = { value: line.emptyIsZero ? 0 : Number.NaN, t: null };
      if (!s || !values || s.t.length === 0) return none;
      const t = s.t[s.t.length - 1] as number;
      if (t < end - 2 * this.step) return none;
      const v = values[values.length - 1];
      return { value: v === null || v === undefined ? none.value : v, t };
    });
  }

  #views(): Float64Array[] {
    return [this.x.subarray(0, this.length), ...this.columns.map((c) => c.subarray(0, this.length))];
  }
}

/**
 * The time axis of a live chart, sliding with the clock between the server's buckets: its right
 * edge is the end of the newest bucket plus the time since that bucket was first seen (at most
 * two buckets: when frames stop, the axis stops soon after). Anchored to the data's arrival,
 * not to the page's clock, so a skewed browser clock neither hides nor stretches anything.
 */
export class SlidingAxis {
  #end = Number.NaN;
  #at = 0;
  #step = 1000;

  constructor(readonly buckets: number) {}

  /** The newest bucket start and the bucket width, after each refill of the window. */
  seen(newest: number, step: number, now = performance.now()): void {
    if (!Number.isFinite(newest)) return;
    const end = newest + step;
    this.#step = step;
    if (end !== this.#end) {
      this.#end = end;
      this.#at = now;
    }
  }

  /** The visible range now: `buckets` wide, ending where the clock has got to (null before any data). */
  range(now = performance.now()): [number, number] | null {
    if (Number.isNaN(this.#end)) return null;
    const right = this.#end + Math.min(Math.max(0, now - this.#at), 2 * this.#step);
    return [right - this.buckets * this.#step, right];
  }
}
