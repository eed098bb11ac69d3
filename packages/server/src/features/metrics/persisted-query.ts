import type { Bucket } from './bucket.js';
import { type Columns, type Refusal, STATS, type Stat, statOf } from './buckets.js';
import type { SeriesDeclaration } from './config.js';
import type { MetricStores, ReadRefusal } from './metric-stores.js';
import { MINUTE, type PersistedMinutes } from './persist.js';

export interface PersistedWindow {
  tenant: string;
  series: string;
  decl: SeriesDeclaration;
  labels: Readonly<Record<string, string>>;
  from: number;
  to: number;
  stats?: readonly Stat[];
  now: number;
  /** How long stored minutes are kept, ms. */
  retention: number;
  /** How far a point may lead the clock, ms (no bucket exists beyond the clock plus this). */
  maxSkew: number;
}

/**
 * The 1-minute buckets of a persisted series over [from, to), in the columns a memory read
 * gives: each minute is this node's bucket in memory (while the 1-minute ring keeps it)
 * merged with the other writers' stored parts, and beyond the ring every writer's stored
 * parts, this node's included. So the seam is exact: a minute is read from one place for
 * each writer, never two, never none. A window reaching before the stored retention is
 * clipped to it (`truncated`).
 */
export async function readPersisted(stores: MetricStores, persisted: PersistedMinutes, w: PersistedWindow): Promise<Columns | Refusal | ReadRefusal> {
  const undeclared = Object.keys(w.labels).find((k) => !w.decl.labels.includes(k));
  if (undeclared !== undefined) return { ok: false, code: 'label', message: `label ${undeclared} is not declared for ${w.series}` };
  const stats = w.stats ?? (w.decl.kind === 'counter' ? [...STATS] : STATS.filter((s) => s !== 'rate'));
  for (const s of stats) {
    if (!STATS.includes(s) || (s === 'rate' && w.decl.kind !== 'counter'))
      return { ok: false, code: 'stat', message: `no statistic ${String(s)} for a ${w.decl.kind}` };
  }
  const oldest = Math.ceil((w.now - w.retention) / MINUTE) * MINUTE;
  let first = Math.floor(w.from / MINUTE) * MINUTE;
  const truncated = first < oldest;
  if (truncated) first = oldest;
  const end = Math.min(Math.ceil(w.to / MINUTE) * MINUTE, Math.floor((w.now + w.maxSkew) / MINUTE) * MINUTE + MINUTE);
  const n = Math.max(0, (end - first) / MINUTE);
  const held = stores.held(w.tenant, w.series, w.labels);
  const ring = held?.store.resolutions.find((r) => r.step === MINUTE);
  // Without a store of its own this node has nothing in memory: every minute is read from storage.
  const ownFrom = held && ring ? w.now - (w.now % MINUTE) - (ring.retention - 1) * MINUTE : Number.POSITIVE_INFINITY;
  // Minutes about to leave memory are encoded first, so each is in memory or stored, whatever the sweep did since.
  persisted.collect(false, 0);
  const parts = n > 0 ? await persisted.read(w.tenant, w.series, w.labels, first, end, ownFrom) : new Map<number, Bucket[]>();

  const count: number[] = new Array(n);
  const columns: Columns['stats'] = {};
  const wanted = stats.filter((s): s is Exclude<Stat, 'count'> => s !== 'count');
  for (const s of wanted) columns[s] = new Array(n);
  for (let i = 0; i < n; i++) {
    const minute = first + i * MINUTE;
    const b = merged(minute >= ownFrom ? held?.store.bucket(MINUTE, minute) : undefined, parts.get(minute));
    count[i] = b?.count ?? 0;
    for (const s of wanted) (columns[s] as Array<number | null>)[i] = b === undefined ? null : statOf(b, s, MINUTE);
  }
  return { ok: true, start: first, step: MINUTE, truncated, count, stats: columns };
}

/** This node's bucket (read-only, so copied before a merge) and the stored parts, as one bucket; undefined when empty. */
function merged(own: Bucket | undefined, stored: Bucket[] | undefined): Bucket | undefined {
  if (!stored || stored.length === 0) return own && own.count > 0 ? own : undefined;
  const [head, ...rest] = own ? [own, ...stored] : stored;
  const out = (head as Bucket).clone();
  for (const part of rest) out.merge(part);
  return out.count > 0 ? out : undefined;
}
