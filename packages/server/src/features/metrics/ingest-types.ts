import type { ErrorCodeInfo } from '@switchboard/protocol';
import type { BucketStore } from './buckets.js';
import type { SeriesDeclaration } from './config.js';

/** One point of an ingest batch, as the route hands it over (value and ts still unchecked). */
export interface PointInput {
  series: string;
  labels: Readonly<Record<string, string>>;
  ts: unknown;
  value: unknown;
}

/** A columnar block: points of one series and label set, `ts[i]` and `values[i]` still unchecked (`ts` undefined: every point at the clock). */
export interface ColumnBlock {
  series: string;
  labels: Readonly<Record<string, string>>;
  ts: readonly unknown[] | undefined;
  values: readonly unknown[];
}

/** Why a point of a batch is refused: its position in the batch, a reply error code and a reason. */
export interface Problem {
  index: number;
  code: number;
  reason: string;
}

/** What `check` found: nothing (the batch may be written), or every problem (the first 100 kept). */
export interface Verdict {
  total: number;
  problems: Problem[];
  /** The code of the first problem. */
  first: ErrorCodeInfo | null;
  /** The store key of each point (for `write`, which then builds none). */
  keys: string[];
  /** The store of each point when held at the check (for `write`, which then looks none up). */
  stores?: Array<Held | undefined>;
}

/** One store held: whose, of which series and label set, and the declaration it was made with. */
export interface Held {
  /** `storeKey` of tenant, series and labels. */
  readonly key: string;
  readonly tenant: string;
  readonly series: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly store: BucketStore;
  decl: SeriesDeclaration;
  /** The mark of the last plan that moved `plannedNewest` (a batch being checked). */
  planned: number;
  /** The newest timestamp of the store with the points of that plan's batch checked so far. */
  plannedNewest: number;
  /** The mark of the last write that listed this store as touched. */
  written: number;
}
