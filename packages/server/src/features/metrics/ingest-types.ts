import type { ErrorCodeInfo } from '@switchboard/protocol';

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
}
