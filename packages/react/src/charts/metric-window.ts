import type { MetricColumns, MetricFrame, MetricStat, MetricSubscribeResult } from '@switchboard/client';

/**
 * The window of a metric subscription as a chart draws it: one slot per bucket from `from`
 * (dense, so every series shares the x column), in typed arrays allocated once. Live buckets
 * are written in place; a bucket past the end appends, and once the window is full the
 * oldest slots shift out. A slot without a value is `NaN`.
 */
export class MetricWindow {
  /** Slots the arrays hold: the window's buckets, the open one included, and one spare. */
  readonly capacity: number;
  /** Bucket width, ms. */
  readonly step: number;
  /** The start of slot 0 (Unix ms). */
  from = 0;
  /** Slots in use: up to the newest bucket that has a value. */
  length = 0;
  /** Bucket starts, slot by slot. */
  readonly x: Float64Array;
  /** One column per (series, statistic) drawn, in `lines` order. */
  readonly columns: Float64Array[];
  /** What each column is. */
  readonly lines: ReadonlyArray<{ readonly series: number; readonly stat: MetricStat; readonly label: string }>;
  /** Where each line's statistic sits in a frame's `v`. */
  readonly #at: number[];

  constructor(result: MetricSubscribeResult, stats: readonly MetricStat[]) {
    this.step = result.step;
    this.capacity = Math.ceil(result.window / result.step) + 2;
    this.x = new Float64Array(this.capacity);
    const drawn = stats.filter((s) => result.columns.includes(s));
    const several = result.series.length > 1;
    this.lines = result.series.flatMap((s, i) => drawn.map((stat) => ({ series: i, stat, label: several ? `${s.series} ${stat}` : stat })));
    this.#at = this.lines.map((l) => result.columns.indexOf(l.stat));
    this.columns = this.lines.map(() => new Float64Array(this.capacity).fill(Number.NaN));
  }

  /** Replace everything with a view the SDK holds (after a backfill, or when a chart joins a running stream). */
  load(view: MetricColumns): void {
    this.#reset(view.from);
    this.lines.forEach((line, k) => {
      const s = view.series[line.series];
      const values = s?.stats[line.stat];
      if (s === undefined || values === undefined) return;
      for (let j = 0; j < s.t.length; j++) this.#write(k, this.#slot(s.t[j] as number), values[j] ?? null);
    });
    this.#settle();
  }

  /** Apply one live frame: each bucket it carries replaces its slot (appending past the end), then the window moves to the frame's `from`. */
  apply(frame: MetricFrame): void {
    if (frame.kind === 'backfill') this.#reset(frame.from);
    for (const part of frame.series) {
      this.lines.forEach((line, k) => {
        if (line.series !== part.i) return;
        const values = part.v[this.#at[k] as number];
        for (let j = 0; j < part.t.length; j++) this.#write(k, this.#slot(frame.base + (part.t[j] as number) * frame.step), values?.[j] ?? null);
      });
    }
    if (frame.from > this.from) this.#shift(Math.round((frame.from - this.from) / this.step));
    this.#settle();
  }

  /** The columns in use, as views (no copy): `[x, ...columns]`, `length` slots each. */
  data(): Float64Array[] {
    return [this.x.subarray(0, this.length), ...this.columns.map((c) => c.subarray(0, this.length))];
  }

  /** The slot of a bucket start, shifting the window forward when it lies past the end; -1 when it is older than the window. */
  #slot(start: number): number {
    const slot = Math.round((start - this.from) / this.step);
    if (slot < 0) return -1;
    if (slot >= this.capacity) {
      this.#shift(slot - this.capacity + 1);
      return this.capacity - 1;
    }
    return slot;
  }

  #write(column: number, slot: number, value: number | null): void {
    if (slot < 0) return;
    (this.columns[column] as Float64Array)[slot] = value ?? Number.NaN;
    if (slot >= this.length) this.length = slot + 1;
  }

  #reset(from: number): void {
    this.from = from;
    this.length = 0;
    for (const c of this.columns) c.fill(Number.NaN);
    this.#fillX();
  }

  /** Drop the `n` oldest slots. */
  #shift(n: number): void {
    if (n <= 0) return;
    const keep = Math.max(0, this.capacity - n);
    for (const c of this.columns) {
      c.copyWithin(0, this.capacity - keep);
      c.fill(Number.NaN, keep);
    }
    this.from += n * this.step;
    this.length = Math.max(0, this.length - n);
    this.#fillX();
  }

  /** Trailing slots without any value are not in use. */
  #settle(): void {
    while (this.length > 0 && this.columns.every((c) => Number.isNaN(c[this.length - 1] as number))) this.length--;
  }

  #fillX(): void {
    for (let i = 0; i < this.capacity; i++) this.x[i] = this.from + i * this.step;
  }
}
