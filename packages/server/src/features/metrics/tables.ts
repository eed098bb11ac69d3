/** Row types of the metrics tables (conventions: storage/tables.ts). */

/** One writer's part of one stored 1-minute bucket of a (tenant, series, label set). */
export interface MetricMinuteTable {
  tenant: string;
  series: string;
  /** The label set, canonical: JSON of its [key, value] pairs sorted by key. */
  labels: string;
  /** The minute's start, Unix ms. */
  minute: number;
  /** The node run that ingested these points: its node id and a random part of each start. */
  writer: string;
  /** The bucket's figures, for SQL readers; `bucket` is what reads merge. */
  count: number;
  sum: number;
  min: number;
  max: number;
  last: number;
  /** The bucket in its binary form (bucket.ts): sketch, exact sum, last. */
  bucket: Uint8Array;
  written_at: number;
}

/** A series a tenant declared over HTTP. */
export interface MetricSeriesTable {
  tenant: string;
  name: string;
  /** JSON text of the declaration as it was sent (kind, unit, labels, retention, persist). */
  declaration: string;
  created_at: number;
  updated_at: number;
}

/** A saved dashboard of a tenant. */
export interface MetricDashboardTable {
  tenant: string;
  id: string;
  /** JSON text: {title, panels}. */
  dashboard: string;
  /** 1 on creation, +1 at each save. */
  version: number;
  created_at: number;
  updated_at: number;
}

export interface MetricTables {
  sb_metric_minutes: MetricMinuteTable;
  sb_metric_series: MetricSeriesTable;
  sb_metric_dashboards: MetricDashboardTable;
}
