import { type Kysely, sql } from 'kysely';
import { QueryShapes } from '../../storage/query-shapes.js';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import type { DocumentTables } from './tables.js';

type Db = Kysely<SharedTables & DocumentTables>;

/** A document as stored: its compacted state and the log of updates since, in order. */
export interface StoredDocument {
  snapshot: Uint8Array;
  updates: Uint8Array[];
  /** Bytes of the snapshot and the log: what the size limit counts. */
  bytes: number;
  logCount: number;
  /** Every update numbered up to this one is in `snapshot` or `updates`. */
  seq: number;
}

/** What a node that holds a document up to some number lacks: the log after it, and the snapshot when the log was folded past it. */
export interface StoredTail {
  /** The snapshot, when updates after the number asked for were folded into it (else null). */
  snapshot: Uint8Array | null;
  updates: Uint8Array[];
  /** Every update numbered up to this one is in what was read (or was already held). */
  seq: number;
}

/** The numbers an append gave its updates: `from` to `to`, in order. */
export interface Appended {
  from: number;
  to: number;
}

/**
 * How a compaction makes the new snapshot: from the previous one and the log's rows, in
 * order (a function), or as the whole state of a document that holds every row numbered up
 * to `upTo` (the rows are then counted and deleted, never read).
 */
export type Fold = ((snapshot: Uint8Array, updates: Uint8Array[]) => Uint8Array) | { state: () => Uint8Array; upTo: number };

/** What a compaction folded: log rows, and the bytes before (snapshot and those rows) and after. */
export interface Compaction {
  folded: number;
  foldedBytes: number;
  before: number;
  after: number;
}
const NONE: Compaction = { folded: 0, foldedBytes: 0, before: 0, after: 0 };

/** One document in a list. */
export interface DocumentSummary {
  channel: string;
  bytes: number;
  createdAt: number;
  updatedAt: number;
}

/** Log rows deleted per statement when a compaction removes what it folded. */
const DELETE_CHUNK = 500;

const bytesOf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/**
 * A log row's id from its number (unique per document, given under the document row's lock):
 * `s_` and the number in 12 base-36 digits, so ids sort as numbers do and never meet the
 * time-ordered ids (`u_…`) of rows logged before numbers were given.
 */
const logRowId = (seq: number): string => `s_${seq.toString(36).padStart(12, '0')}`;

/**
 * Documents on SQLite or PostgreSQL: a snapshot per document plus a log of the updates
 * since, each with its number in the document's log. An update is durable once `append`
 * resolved (the log insert and the document row commit together; numbers are given under
 * the document row's lock, so a number is visible only once every smaller one is);
 * `compact` folds the log into the snapshot in one transaction, up to the number it read,
 * so updates another node appends meanwhile stay in the log.
 *
 * Reads take the log before the document row: a compaction committed between the two is
 * then in the snapshot read, so nothing falls between them.
 */
export class DocumentStore {
  readonly #db: Db;
  /** The append's queries, compiled once (an append runs them many times a second). */
  readonly #shapes = new QueryShapes();

  constructor(
    private readonly storage: Storage,
    private readonly now: () => number,
  ) {
    this.#db = storage.tables<DocumentTables>();
  }

  async load(tenant: string, channel: string): Promise<StoredDocument | null> {
    const log = await this.#log(tenant, channel, -1);
    const row = await this.#db
      .selectFrom('sb_documents')
      .select(['snapshot_bytes', 'snapshot_seq'])
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .executeTakeFirst();
    if (!row) return null;
    const snapshot = await this.#snapshot(this.#db, tenant, channel);
    // Rows folded into the snapshot read after them are left out (applying them twice would be harmless; counting them twice would not).
    const updates = log.filter((r) => Number(r.seq) === 0 || Number(r.seq) > Number(row.snapshot_seq)).map((r) => new Uint8Array(r.data));
    return {
      snapshot,
      updates,
      bytes: Number(row.snapshot_bytes) + updates.reduce((n, u) => n + u.byteLength, 0),
      logCount: updates.length,
      // Not the row's `seq`: numbers given after the log was read are not in what was read.
      seq: log.reduce((n, r) => Math.max(n, Number(r.seq)), Number(row.snapshot_seq)),
    };
  }

  /** What a node holding the document up to `seq` lacks; null when the document is gone. */
  async since(tenant: string, channel: string, seq: number): Promise<StoredTail | null> {
    const log = await this.#log(tenant, channel, seq);
    const row = await this.#db
      .selectFrom('sb_documents')
      .select(['snapshot_seq'])
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .executeTakeFirst();
    if (!row) return null;
    let snapshot: Uint8Array | null = null;
    let covered = seq;
    if (Number(row.snapshot_seq) > seq) {
      // A compaction committed after the row was read folded more into it: a superset of what the row says.
      snapshot = await this.#snapshot(this.#db, tenant, channel);
      covered = Number(row.snapshot_seq);
    }
    return {
      snapshot,
      updates: log.map((r) => new Uint8Array(r.data)),
      // Not the row's `seq`: numbers given after the log was read are not in what was read.
      seq: log.reduce((n, r) => Math.max(n, Number(r.seq)), covered),
    };
  }

  /** A document's snapshot (empty when it has none yet). */
  async #snapshot(db: Db, tenant: string, channel: string): Promise<Uint8Array> {
    const row = await db.selectFrom('sb_document_snapshots').select('snapshot').where('tenant', '=', tenant).where('channel', '=', channel).executeTakeFirst();
    return row ? new Uint8Array(row.snapshot) : new Uint8Array(0);
  }

  /** A document's log after `seq` (-1: all of it), in order. */
  #log(tenant: string, channel: string, seq: number) {
    return this.#db
      .selectFrom('sb_document_updates')
      .select(['data', 'seq'])
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .where('seq', '>', seq)
      .orderBy('seq')
      .orderBy('id')
      .execute();
  }

  /**
   * Append updates to a document's log (creating the document), in one transaction, and
   * add `authors` to the document's list of them: the numbers the updates were given.
   */
  async append(tenant: string, channel: string, updates: readonly Uint8Array[], authors: readonly string[] = []): Promise<Appended> {
    if (updates.length === 0) throw new RangeError('nothing to append');
    const now = this.now();
    const bytes = updates.reduce((n, u) => n + u.byteLength, 0);
    return this.storage.transaction(async (trx) => {
      const db = trx as unknown as Db;
      // The upsert locks the document row until commit: appends to one document take turns, numbers in commit order.
      const n = updates.length;
      const head = {
        tenant,
        channel,
        snapshot_bytes: 0,
        log_count: n,
        log_bytes: bytes,
        authors: '[]',
        created_at: now,
        updated_at: now,
        seq: n,
        snapshot_seq: 0,
        compact_fence: 0,
      };
      const upsert = await this.#shapes.run(db, 'append-head', [...Object.values(head), n, bytes, now, n], () =>
        db
          .insertInto('sb_documents')
          .values(head)
          .onConflict((oc) =>
            oc.columns(['tenant', 'channel']).doUpdateSet({
              log_count: sql<number>`sb_documents.log_count + ${n}`,
              log_bytes: sql<number>`sb_documents.log_bytes + ${bytes}`,
              updated_at: now,
              seq: sql<number>`sb_documents.seq + ${n}`,
            }),
          )
          .returning(['seq', 'authors']),
      );
      const row = upsert.rows[0] as { seq: number; authors: string };
      const to = Number(row.seq);
      const from = to - n + 1;
      const rows = updates.map((u, i) => ({ tenant, channel, id: logRowId(from + i), data: bytesOf(u), created_at: now, seq: from + i }));
      await this.#shapes.run(db, `append-log-${n}`, rows.flatMap(Object.values), () => db.insertInto('sb_document_updates').values(rows));
      const known = parseAuthors(row.authors);
      const added = authors.filter((a) => !known.includes(a));
      if (added.length > 0) {
        await db
          .updateTable('sb_documents')
          .set({ authors: JSON.stringify(known.concat(added)) })
          .where('tenant', '=', tenant)
          .where('channel', '=', channel)
          .execute();
      }
      return { from, to };
    });
  }

  /**
   * Fold the log into the snapshot, up to the last number given (or `fold.upTo`, when that
   * is lower): see `Fold`. The rows folded are deleted in the same transaction (the document
   * row is locked on PostgreSQL), so nothing appended meanwhile is lost. `fence` is the
   * fencing token of the compaction's lease: a compaction whose token is below the last one
   * recorded (its lease expired and another node's compaction came after) changes nothing.
   */
  async compact(tenant: string, channel: string, fold: Fold, fence = 0): Promise<Compaction> {
    return this.storage.transaction(async (trx) => {
      const db = trx as unknown as Db;
      let read = db
        .selectFrom('sb_documents')
        .select(['seq', 'snapshot_seq', 'snapshot_bytes', 'compact_fence'])
        .where('tenant', '=', tenant)
        .where('channel', '=', channel);
      if (this.storage.kind === 'postgres') read = read.forUpdate();
      const row = await read.executeTakeFirst();
      if (!row || Number(row.compact_fence) > fence) return NONE;
      const upTo = typeof fold === 'function' ? Number(row.seq) : Math.min(Number(row.seq), fold.upTo);
      // Another node folded further than this one holds: nothing here to fold (the number never goes back).
      if (upTo < Number(row.snapshot_seq)) return NONE;
      let snapshot: Uint8Array;
      let count: number;
      let folded: number;
      const before = Number(row.snapshot_bytes);
      if (typeof fold === 'function') {
        const log = await db
          .selectFrom('sb_document_updates')
          .select(['id', 'data'])
          .where('tenant', '=', tenant)
          .where('channel', '=', channel)
          .where('seq', '<=', upTo)
          .orderBy('seq')
          .orderBy('id')
          .execute();
        if (log.length === 0) return NONE;
        snapshot = fold(
          await this.#snapshot(db, tenant, channel),
          log.map((r) => new Uint8Array(r.data)),
        );
        count = log.length;
        folded = log.reduce((n, r) => n + r.data.byteLength, 0);
        for (let i = 0; i < log.length; i += DELETE_CHUNK) {
          const ids = log.slice(i, i + DELETE_CHUNK).map((r) => r.id);
          await db.deleteFrom('sb_document_updates').where('tenant', '=', tenant).where('channel', '=', channel).where('id', 'in', ids).execute();
        }
      } else {
        // The rows are not read: the document that gives the state holds every one of them.
        const stats = await db
          .selectFrom('sb_document_updates')
          .select([sql<number>`count(*)`.as('n'), sql<number>`coalesce(sum(length(data)), 0)`.as('bytes')])
          .where('tenant', '=', tenant)
          .where('channel', '=', channel)
          .where('seq', '<=', upTo)
          .executeTakeFirstOrThrow();
        count = Number(stats.n);
        if (count === 0) return NONE;
        folded = Number(stats.bytes);
        snapshot = fold.state();
        await db.deleteFrom('sb_document_updates').where('tenant', '=', tenant).where('channel', '=', channel).where('seq', '<=', upTo).execute();
      }
      await db
        .updateTable('sb_documents')
        .set({
          snapshot_bytes: snapshot.byteLength,
          snapshot_seq: upTo,
          compact_fence: fence,
          log_count: sql<number>`sb_documents.log_count - ${count}`,
          log_bytes: sql<number>`sb_documents.log_bytes - ${folded}`,
        })
        .where('tenant', '=', tenant)
        .where('channel', '=', channel)
        .execute();
      await db
        .insertInto('sb_document_snapshots')
        .values({ tenant, channel, snapshot: bytesOf(snapshot) })
        .onConflict((oc) => oc.columns(['tenant', 'channel']).doUpdateSet({ snapshot: bytesOf(snapshot) }))
        .execute();
      return { folded: count, foldedBytes: folded, before: before + folded, after: snapshot.byteLength };
    });
  }

  /** Delete a document and its log; false when there was none. */
  async delete(tenant: string, channel: string): Promise<boolean> {
    return this.storage.transaction(async (trx) => {
      const db = trx as unknown as Db;
      await db.deleteFrom('sb_document_updates').where('tenant', '=', tenant).where('channel', '=', channel).execute();
      await db.deleteFrom('sb_document_snapshots').where('tenant', '=', tenant).where('channel', '=', channel).execute();
      const gone = await db.deleteFrom('sb_documents').where('tenant', '=', tenant).where('channel', '=', channel).executeTakeFirst();
      return Number(gone.numDeletedRows) > 0;
    });
  }

  /** A tenant's documents by channel name, after `after`, at most `limit`. */
  async list(tenant: string, after: string | null, limit: number): Promise<DocumentSummary[]> {
    let q = this.#db
      .selectFrom('sb_documents')
      .select(['channel', 'snapshot_bytes', 'log_bytes', 'created_at', 'updated_at'])
      .where('tenant', '=', tenant)
      .orderBy('channel')
      .limit(limit);
    if (after !== null) q = q.where('channel', '>', after);
    const rows = await q.execute();
    return rows.map((r) => ({
      channel: r.channel,
      bytes: Number(r.snapshot_bytes) + Number(r.log_bytes),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
    }));
  }
}

/** A stored authors list; an unreadable one counts as empty. */
export function parseAuthors(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}
