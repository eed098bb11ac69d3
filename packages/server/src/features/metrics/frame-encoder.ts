import type { MetricFrame, MetricFrameSeries } from '@switchboard/protocol';

/** One bucket to send: its start and its values in the schema's column order. */
export interface BucketRow {
  start: number;
  values: ReadonlyArray<number | null>;
}

/** What a frame says, before it is put in columns. */
export interface FrameInput {
  id: string;
  kind: MetricFrame['kind'];
  seq: number;
  at: number;
  from: number;
  skipped: number;
  step: number;
  /** Columns per bucket (the schema's). */
  columns: number;
  /** Per series index of the schema, its buckets (any order; one per start). */
  series: ReadonlyArray<{ i: number; rows: readonly BucketRow[] }>;
}

/**
 * Puts a frame's buckets in columns: timestamps as `base` (the earliest start of the frame, or
 * `from` when there is none) plus offsets in steps, and per series one array per column. Series
 * without buckets are left out; a series' buckets are sorted by start.
 */
export function encodeFrame(input: FrameInput): MetricFrame {
  let base = Number.POSITIVE_INFINITY;
  for (const s of input.series) for (const r of s.rows) if (r.start < base) base = r.start;
  if (base === Number.POSITIVE_INFINITY) base = input.from;
  const series: MetricFrameSeries[] = [];
  for (const s of [...input.series].sort((a, b) => a.i - b.i)) {
    if (s.rows.length === 0) continue;
    const rows = [...s.rows].sort((a, b) => a.start - b.start);
    const v: Array<Array<number | null>> = [];
    for (let c = 0; c < input.columns; c++) v.push(rows.map((r) => finiteOrNull(r.values[c])));
    series.push({ i: s.i, t: rows.map((r) => (r.start - base) / input.step), v });
  }
  return { id: input.id, kind: input.kind, seq: input.seq, at: input.at, from: input.from, skipped: input.skipped, base, step: input.step, series };
}

/** JSON has no NaN or Infinity: a statistic without a value is null. */
function finiteOrNull(x: number | null | undefined): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

/** The first bucket start of a window of `window` ms (a whole number of steps, counting the open bucket) at `now`. */
export function windowStart(now: number, step: number, window: number): number {
  return Math.floor(now / step) * step - (Math.ceil(window / step) - 1) * step;
}
