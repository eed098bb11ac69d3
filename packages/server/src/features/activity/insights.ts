import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';

/** Counts of a scope's (or a tenant's) activities over a time range: by verb, by actor, per hour or day. */

export type BucketSize = 'hour' | 'day';

export const BUCKET_MS: Readonly<Record<BucketSize, number>> = { hour: 3_600_000, day: 86_400_000 };

/** The widest range per bucket size: 31 days of hours (744 buckets), 366 days of days. */
export const MAX_RANGE_MS: Readonly<Record<BucketSize, number>> = { hour: 31 * 86_400_000, day: 366 * 86_400_000 };

export interface InsightsQuery {
  scope?: string | undefined;
  q?: string | undefined;
  /** From this time (inclusive), Unix ms. */
  from: number;
  /** Before this time (exclusive), Unix ms. */
  to: number;
  bucket: BucketSize;
  /** How many of the most active actors to list. */
  top: number;
}

export interface Counted {
  name: string;
  count: number;
}

export interface ActivityBucket {
  /** Start of the UTC hour or day, Unix ms. */
  start: number;
  count: number;
}

export interface ActivityInsights {
  /** Activities in the range (a grouped activity counts each one merged into it). */
  total: number;
  /** Distinct actors in the range. */
  actors: number;
  byVerb: Counted[];
  byActor: Counted[];
  /** Every bucket that overlaps the range, oldest first, empty ones with count 0. */
  buckets: ActivityBucket[];
}

/** Refuse a range that is empty, reversed or wider than its bucket size allows (400 / 107). */
export function checkRange(q: Pick<InsightsQuery, 'from' | 'to' | 'bucket'>): void {
  if (q.to <= q.from) throw new ReplyError(ErrorCode.BadRequest, 'query.to: must be after from');
  const max = MAX_RANGE_MS[q.bucket];
  if (q.to - q.from > max) throw new ReplyError(ErrorCode.BadRequest, `query.to: a range of ${q.bucket}s spans at most ${max / 86_400_000} days`);
}

/** The buckets of [from, to), oldest first, with the counts found and 0 elsewhere. */
export function everyBucket(q: Pick<InsightsQuery, 'from' | 'to' | 'bucket'>, found: readonly ActivityBucket[]): ActivityBucket[] {
  const size = BUCKET_MS[q.bucket];
  const counts = new Map(found.map((b) => [b.start, b.count]));
  const out: ActivityBucket[] = [];
  for (let start = q.from - (q.from % size); start < q.to; start += size) out.push({ start, count: counts.get(start) ?? 0 });
  return out;
}
