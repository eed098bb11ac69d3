/**
 * Metric subscriptions on the wire (docs/metrics.md): `metrics.subscribe` answers a schema
 * once, then the server pushes columnar frames as `{"push":"feature","feature":"metrics",
 * "event":"frame","data":MetricFrame}` — a backfill of the window first, then live updates.
 */

/** A bucket statistic a subscription may ask for (`rate`: counters only). */
export type MetricStat = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'last' | 'p50' | 'p95' | 'p99' | 'rate';

/** Parameters of `metrics.subscribe`. */
export interface MetricSubscribeParams {
  /** One declared series or several (at most 32). */
  series: string | string[];
  /** The exact label set, the same for every series; default the empty label set (as the query route). */
  labels?: Record<string, string>;
  /** `1s` (default), `10s` or `1m`. */
  resolution?: '1s' | '10s' | '1m';
  /** How far back the view reaches: a duration (`"5m"`) or ms; default and maximum the resolution's retention. */
  window?: string | number;
  /** The statistics to send, in column order; default every statistic of the series' kinds. */
  stats?: MetricStat[];
  /** Frames per second at most; default and maximum the server's ceiling (`metrics.maxRate`). */
  maxRate?: number;
  /**
   * `system`: the server's own figures (`sb.*` series) instead of the tenant's, with `grant`;
   * no token capability reaches them.
   */
  scope?: 'system';
  /** A grant from `POST /api/v1/metrics/system/grants` (admin key), with `scope: 'system'`. */
  grant?: string;
}

/** One series of a subscription: its position in the schema is `i` in every frame. */
export interface MetricSchemaSeries {
  series: string;
  labels: Record<string, string>;
  kind: 'gauge' | 'counter' | 'distribution';
  unit?: string;
}

/** The reply to `metrics.subscribe`: what the server will send, after clamping. */
export interface MetricSubscribeResult {
  /** Names this subscription in its frames and in `metrics.unsubscribe`. */
  id: string;
  resolution: '1s' | '10s' | '1m';
  /** Bucket width, ms. */
  step: number;
  /** The window in effect, ms (a whole number of buckets). */
  window: number;
  /** The window asked for reached beyond the retention: it was clipped to it. */
  truncated: boolean;
  /** Frames per second at most, in effect. */
  rate: number;
  /** Present when the asked `maxRate` was not granted as it was: what was asked and why it changed. */
  rateClamped?: { requested: number | null; reason: 'not-positive' | 'above-ceiling' };
  /** The columns of every frame, in order. */
  columns: MetricStat[];
  series: MetricSchemaSeries[];
}

/** The buckets of one series in a frame: bucket j starts at `base + t[j]·step`; `v[c][j]` is column c's value. */
export interface MetricFrameSeries {
  /** Index of the series in the schema. */
  i: number;
  /** Bucket offsets from `base`, in steps, ascending. */
  t: number[];
  /** One array per column of the schema, each with an entry per bucket (null: no value). */
  v: Array<Array<number | null>>;
}

/**
 * One frame of a metric subscription. `backfill`: every non-empty bucket of the window, which
 * replaces what the view held. `update`: every bucket that changed since the frame before
 * (the open bucket, closed ones, and past buckets corrected by late points), each sent whole.
 */
export interface MetricFrame {
  id: string;
  kind: 'backfill' | 'update';
  /** 0 for the backfill, then 1, 2, … */
  seq: number;
  /** The server's clock when the frame was built, ms. */
  at: number;
  /** The first bucket of the window at `at`: buckets before it have left the view. */
  from: number;
  /** Updates skipped while the connection was congested; their buckets are in this frame. */
  skipped: number;
  base: number;
  step: number;
  series: MetricFrameSeries[];
}
