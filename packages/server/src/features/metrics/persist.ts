import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import { Bucket } from './bucket.js';
import type { Clock } from './buckets.js';
import { ByteReader, ByteWriter } from './bytes.js';
import { type Held, labelSetKey } from './metric-stores.js';
import type { MetricMinuteTable, MetricTables } from './tables.js';

type Db = Kysely<SharedTables & MetricTables>;

/** The one resolution that is stored. */
export const MINUTE = 60_000;
/** Rows per insert statement (all of a flush go in one transaction). */
const ROWS_PER_STATEMENT = 200;

export interface PersistOptions {
  /** How far a point may lag its store's newest point, ms: a minute is written once it closed this long ago. */
  lateness: number;
  /** How long stored minutes are kept, ms. */
  retention: number;
}

interface Dirty {
  held: Held;
  minutes: Set<number>;
}

type Row = MetricMinuteTable;

const rowKey = (r: Pick<Row, 'tenant' | 'series' | 'labels' | 'minute'>): string => `${r.tenant}\0${r.series}\0${r.labels}\0${r.minute}`;

/**
 * The 1-minute buckets of series declared with `persist`, written to storage (SQLite or
 * PostgreSQL) by the node that ingested their points.
 *
 * A row is one writer's part of one minute of one (tenant, series, label set): the key is
 * (tenant, series, labels, minute, writer), where the writer is this node's id and a random
 * part drawn at each start. Each node writes only what it ingested, so two nodes (or two runs
 * of one node, before and after a restart) never overwrite each other: a read merges the
 * parts of a minute, and counts, exact sums, min, max, last and sketches merge exactly
 * (bucket.ts), so the merged minute is the one a single node would have built from every point.
 *
 * A minute is written once it closed `lateness` ago (a point may still land in it until
 * then), and written again, whole, if a late point changed it after that; every minute of the
 * 1-minute ring is written before the ring drops it. `collect` takes the minutes due (and
 * encodes them at once, so the ring may drop them right after); `write` stores what was
 * collected in one transaction. A failed write keeps its rows for the next one.
 */
export class PersistedMinutes {
  readonly writer: string;
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #options: () => PersistOptions;
  readonly #logger: Logger;
  /** Store key → the minutes its points touched since they were last collected. */
  readonly #dirty = new Map<string, Dirty>();
  /** Collected rows not yet written (row key → row); the newest encoding of a minute wins. */
  readonly #pending = new Map<string, Row>();
  /** Rows of the write in progress. */
  #inflight = new Map<string, Row>();
  #writing: Promise<number> = Promise.resolve(0);

  constructor(storage: Storage, clock: Clock, writer: string, options: () => PersistOptions, logger: Logger) {
    this.#db = storage.tables<MetricTables>();
    this.#clock = clock;
    this.writer = writer;
    this.#options = options;
    this.#logger = logger;
  }

  /**
   * A point at `ts` is about to be written into a persisted store (metric-stores.ts calls
   * this). A point of a new minute may take the ring slot of a minute past the retention:
   * the store's dirty minutes past it are encoded first.
   */
  touched(key: string, held: Held, ts: number): void {
    const minute = ts - (ts % MINUTE);
    let dirty = this.#dirty.get(key);
    if (dirty?.minutes.has(minute) && dirty.held === held) return;
    if (!dirty || dirty.held !== held) {
      dirty = { held, minutes: new Set() };
      this.#dirty.set(key, dirty);
    }
    const now = this.#clock.now();
    const horizon = ringHorizon(held, now);
    for (const m of dirty.minutes) {
      if (m >= horizon) continue;
      dirty.minutes.delete(m);
      this.#encode(held, m, now);
    }
    dirty.minutes.add(minute);
  }

  #encode(held: Held, minute: number, now: number): boolean {
    const bucket = held.store.bucket(MINUTE, minute);
    if (!bucket || bucket.count === 0) return false;
    const row = rowOf(held, minute, bucket, this.writer, now);
    this.#pending.set(rowKey(row), row);
    return true;
  }

  /** Rows collected and not yet written. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Encodes the minutes due: closed `lateness` ago (at most `budget` of them, the others at
   * the next call), and always those about to leave the 1-minute ring; everything with `all`
   * (at shutdown). Synchronous, so a sweep of the ring may follow at once.
   */
  collect(all = false, budget = Number.POSITIVE_INFINITY): number {
    const now = this.#clock.now();
    const { lateness } = this.#options();
    let collected = 0;
    for (const [key, dirty] of this.#dirty) {
      const { held } = dirty;
      const horizon = ringHorizon(held, now);
      for (const minute of dirty.minutes) {
        const leaving = minute < horizon + MINUTE;
        const closed = minute + MINUTE + lateness <= now;
        if (!all && !leaving && (!closed || collected >= budget)) continue;
        dirty.minutes.delete(minute);
        if (this.#encode(held, minute, now)) collected++;
      }
      if (dirty.minutes.size === 0) this.#dirty.delete(key);
    }
    return collected;
  }

  /** Writes the collected rows in one transaction, after any write in progress; returns the rows written. */
  write(): Promise<number> {
    this.#writing = this.#writing.then(
      () => this.#writeNow(),
      () => this.#writeNow(),
    );
    return this.#writing;
  }

  async #writeNow(): Promise<number> {
    if (this.#pending.size === 0) return 0;
    this.#inflight = new Map(this.#pending);
    this.#pending.clear();
    const rows = [...this.#inflight.values()];
    try {
      await this.#db.transaction().execute(async (trx) => {
        for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
          await trx
            .insertInto('sb_metric_minutes')
            .values(rows.slice(i, i + ROWS_PER_STATEMENT))
            .onConflict((oc) =>
              oc.columns(['tenant', 'series', 'labels', 'minute', 'writer']).doUpdateSet((eb) => ({
                count: eb.ref('excluded.count'),
                sum: eb.ref('excluded.sum'),
                min: eb.ref('excluded.min'),
                max: eb.ref('excluded.max'),
                last: eb.ref('excluded.last'),
                bucket: eb.ref('excluded.bucket'),
                written_at: eb.ref('excluded.written_at'),
              })),
            )
            .execute();
        }
      });
      return rows.length;
    } catch (err) {
      // Kept for the next write, unless a newer encoding of the same minute was collected meanwhile.
      for (const [k, row] of this.#inflight) if (!this.#pending.has(k)) this.#pending.set(k, row);
      this.#logger.warn({ err, rows: rows.length }, 'stored metric minutes not written; retried at the next flush');
      return 0;
    } finally {
      this.#inflight = new Map();
    }
  }

  /** Collect and write everything due (everything with `all`, at shutdown). */
  async flush(all = false): Promise<number> {
    this.collect(all);
    return this.write();
  }

  /**
   * The stored parts of the minutes [from, to) of one label set, by writer: every writer's
   * before `ownFrom`, only the other writers' from `ownFrom` on (this writer's are in memory
   * there). This writer's rows collected but not yet written count as stored.
   */
  async read(
    tenant: string,
    series: string,
    labels: Readonly<Record<string, string>>,
    from: number,
    to: number,
    ownFrom: number,
  ): Promise<Map<number, Map<string, Bucket>>> {
    const set = labelSetKey(labels);
    const found = await this.#db
      .selectFrom('sb_metric_minutes')
      .select(['minute', 'writer', 'bucket'])
      .where('tenant', '=', tenant)
      .where('series', '=', series)
      .where('labels', '=', set)
      .where('minute', '>=', from)
      .where('minute', '<', to)
      .execute();
    const parts = new Map<number, Map<string, Bucket>>();
    const add = (minute: number, writer: string, bytes: Uint8Array) => {
      const byWriter = parts.get(minute) ?? new Map<string, Bucket>();
      byWriter.set(writer, Bucket.readFrom(new ByteReader(bytes)));
      parts.set(minute, byWriter);
    };
    const own = new Map<number, Uint8Array>();
    for (const r of found) {
      const minute = Number(r.minute);
      if (r.writer !== this.writer) add(minute, r.writer, r.bucket);
      else if (minute < ownFrom) own.set(minute, r.bucket);
    }
    for (const waiting of [this.#inflight, this.#pending]) {
      for (const r of waiting.values()) {
        if (r.tenant === tenant && r.series === series && r.labels === set && r.minute >= from && r.minute < Math.min(to, ownFrom)) own.set(r.minute, r.bucket);
      }
    }
    for (const [minute, bytes] of own) add(minute, this.writer, bytes);
    return parts;
  }

  /** Deletes the stored minutes older than the retention; returns how many. */
  async sweep(): Promise<number> {
    const before = this.#clock.now() - this.#options().retention;
    const result = await this.#db.deleteFrom('sb_metric_minutes').where('minute', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * Forgets what was collected of a tenant's series (it was deleted, with its rows); rows of
   * it that a write in progress was storing are deleted once that write ended.
   */
  async forget(tenant: string, series: string): Promise<void> {
    const of = (row: Row) => row.tenant === tenant && row.series === series;
    for (const [key, dirty] of this.#dirty) if (dirty.held.tenant === tenant && dirty.held.series === series) this.#dirty.delete(key);
    for (const [key, row] of this.#pending) if (of(row)) this.#pending.delete(key);
    if (![...this.#inflight.values()].some(of)) return;
    await this.#writing;
    for (const [key, row] of this.#pending) if (of(row)) this.#pending.delete(key); // a failed write put them back
    await this.#db.deleteFrom('sb_metric_minutes').where('tenant', '=', tenant).where('series', '=', series).where('writer', '=', this.writer).execute();
  }
}

/** The first minute the store's 1-minute ring still keeps at `now`. */
function ringHorizon(held: Held, now: number): number {
  const ring = held.store.resolutions.find((r) => r.step === MINUTE);
  const kept = ring?.retention ?? 1;
  return now - (now % MINUTE) - (kept - 1) * MINUTE;
}

function rowOf(held: Held, minute: number, bucket: Bucket, writer: string, now: number): Row {
  const w = new ByteWriter();
  bucket.writeTo(w);
  const bytes = w.finish();
  return {
    tenant: held.tenant,
    series: held.series,
    labels: labelSetKey(held.labels),
    minute,
    writer,
    count: bucket.count,
    sum: bucket.sum,
    min: bucket.min,
    max: bucket.max,
    last: bucket.last,
    // A Buffer over the same bytes (no copy): what both database drivers bind as binary.
    bucket: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    written_at: now,
  };
}
