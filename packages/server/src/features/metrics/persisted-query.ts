import type { Bucket } from './bucket.js';
import { type Columns, type Refusal, STATS, type Stat, statOf } from './buckets.js';
import type { SeriesDeclaration } from './config.js';
import { type MetricStores, type ReadRefusal, storeKey } from './metric-stores.js';
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
 * merged with the other writers' parts — stored, or live as the other nodes announced them
 * (`withLive`) — and beyond the ring every writer's stored parts, this node's included. So the seam is exact: a minute is read from one place for
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
  const parts = n > 0 ? await persisted.read(w.tenant, w.series, w.labels, first, end, ownFrom) : new Map<number, Map<string, Bucket>>();
  const key = storeKey(w.tenant, w.series, w.labels);

  const count: number[] = new Array(n);
  const columns: Columns['stats'] = {};
  const wanted = stats.filter((s): s is Exclude<Stat, 'count'> => s !== 'count');
  for (const s of wanted) columns[s] = new Array(n);
  for (let i = 0; i < n; i++) {
    const minute = first + i * MINUTE;
    const b = merged(minute >= ownFrom ? held?.store.bucket(MINUTE, minute) : undefined, withLive(stores, key, minute, parts.get(minute)));
    count[i] = b?.count ?? 0;
    for (const s of wanted) (columns[s] as Array<number | null>)[i] = b === undefined ? null : statOf(b, s, MINUTE);
  }
  return { ok: true, start: first, step: MINUTE, truncated, count, stats: columns };
}

/**
 * The stored parts of one minute, by writer, with the other nodes' live parts of it (their
 * announced 1-minute buckets, remote-parts.ts): a node's live part stands for the stored row
 * of the writer it named (its current run), and of the two the fuller one counts — a writer's
 * minute only grows, and it is announced on every change and stored once closed, so either
 * may be the newer for a moment. A node that named no writer (an older release) counts live
 * only while none of its rows of that minute is stored. So each node's minute is counted from
 * one place: the minutes not yet stored are complete, and none is counted twice.
 */
function withLive(stores: MetricStores, key: string, minute: number, stored: Map<string, Bucket> | undefined): Bucket[] {
  const live = stores.remote.partsOf(key, MINUTE, minute);
  if (!live || live.size === 0) return stored ? [...stored.values()] : [];
  const byWriter = new Map(stored);
  for (const [node, part] of live) {
    const writer = stores.remote.writerOf(node);
    if (writer === undefined) {
      if (![...byWriter.keys()].some((w) => w.startsWith(`${node}/`))) byWriter.set(`${node}/live`, part);
      continue;
    }
    const row = byWriter.get(writer);
    if (!row || part.count > row.count) byWriter.set(writer, part);
  }
  return [...byWriter.values()];
}

/** This node's bucket (read-only, so copied before a merge) and the stored parts, as one bucket; undefined when empty. */
function merged(own: Bucket | undefined, stored: Bucket[] | undefined): Bucket | undefined {
  if (!stored || stored.length === 0) return own && own.count > 0 ? own : undefined;
  const [head, ...rest] = own ? [own, ...stored] : stored;
  const out = (head as Bucket).clone();
  for (const part of rest) out.merge(part);
  return out.count > 0 ? out : undefined;
}
