import { type Kysely, sql } from 'kysely';
import { newOrderedId } from '../../storage/ids.js';
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

/** What a compaction folded: log rows, and the bytes before (snapshot and those rows) and after. */
export interface Compaction {
  folded: number;
  before: number;
  after: number;
}
const NONE: Compaction = { folded: 0, before: 0, after: 0 };

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
      .select(['snapshot', 'snapshot_bytes', 'snapshot_seq'])
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .executeTakeFirst();
    if (!row) return null;
    // Rows folded into the snapshot read after them are left out (applying them twice would be harmless; counting them twice would not).
    const updates = log.filter((r) => Number(r.seq) === 0 || Number(r.seq) > Number(row.snapshot_seq)).map((r) => new Uint8Array(r.data));
    return {
      snapshot: new Uint8Array(row.snapshot),
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
      const s = await this.#db
        .selectFrom('sb_documents')
        .select(['snapshot', 'snapshot_seq'])
        .where('tenant', '=', tenant)
        .where('channel', '=', channel)
        .executeTakeFirst();
      if (!s) return null;
      snapshot = new Uint8Array(s.snapshot);
      covered = Number(s.snapshot_seq);
    }
    return {
      snapshot,
      updates: log.map((r) => new Uint8Array(r.data)),
      // Not the row's `seq`: numbers given after the log was read are not in what was read.
      seq: log.reduce((n, r) => Math.max(n, Number(r.seq)), covered),
    };
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
      const row = await db
        .insertInto('sb_documents')
        .values({
          tenant,
          channel,
          snapshot: Buffer.alloc(0),
          snapshot_bytes: 0,
          log_count: updates.length,
          log_bytes: bytes,
          authors: '[]',
          created_at: now,
          updated_at: now,
          seq: updates.length,
          snapshot_seq: 0,
          compact_fence: 0,
        })
        .onConflict((oc) =>
          oc.columns(['tenant', 'channel']).doUpdateSet({
            log_count: sql<number>`sb_documents.log_count + ${updates.length}`,
            log_bytes: sql<number>`sb_documents.log_bytes + ${bytes}`,
            updated_at: now,
            seq: sql<number>`sb_documents.seq + ${updates.length}`,
          }),
        )
        .returning(['seq', 'authors'])
        .executeTakeFirstOrThrow();
      const to = Number(row.seq);
      const from = to - updates.length + 1;
      await db
        .insertInto('sb_document_updates')
        .values(updates.map((u, i) => ({ tenant, channel, id: newOrderedId('u', now), data: bytesOf(u), created_at: now, seq: from + i })))
        .execute();
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
   * Fold the log into the snapshot, up to the last number given: `merge` gets the snapshot
   * and the log (in order) and returns the new snapshot. The rows read are deleted in the
   * same transaction (the document row is locked on PostgreSQL), so nothing appended
   * meanwhile is lost. `fence` is the fencing token of the compaction's lease: a compaction
   * whose token is below the last one recorded (its lease expired and another node's
   * compaction came after) changes nothing.
   */
  async compact(tenant: string, channel: string, merge: (snapshot: Uint8Array, updates: Uint8Array[]) => Uint8Array, fence = 0): Promise<Compaction> {
    return this.storage.transaction(async (trx) => {
      const db = trx as unknown as Db;
      let read = db.selectFrom('sb_documents').select(['snapshot', 'seq', 'compact_fence']).where('tenant', '=', tenant).where('channel', '=', channel);
      if (this.storage.kind === 'postgres') read = read.forUpdate();
      const row = await read.executeTakeFirst();
      if (!row || Number(row.compact_fence) > fence) return NONE;
      const upTo = Number(row.seq);
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
      const snapshot = merge(
        new Uint8Array(row.snapshot),
        log.map((r) => new Uint8Array(r.data)),
      );
      const folded = log.reduce((n, r) => n + r.data.byteLength, 0);
      for (let i = 0; i < log.length; i += DELETE_CHUNK) {
        const ids = log.slice(i, i + DELETE_CHUNK).map((r) => r.id);
        await db.deleteFrom('sb_document_updates').where('tenant', '=', tenant).where('channel', '=', channel).where('id', 'in', ids).execute();
      }
      await db
        .updateTable('sb_documents')
        .set({
          snapshot: bytesOf(snapshot),
          snapshot_bytes: snapshot.byteLength,
          snapshot_seq: upTo,
          compact_fence: fence,
          log_count: sql<number>`sb_documents.log_count - ${log.length}`,
          log_bytes: sql<number>`sb_documents.log_bytes - ${folded}`,
        })
        .where('tenant', '=', tenant)
        .where('channel', '=', channel)
        .execute();
      return { folded: log.length, before: row.snapshot.byteLength + folded, after: snapshot.byteLength };
    });
  }

  /** Delete a document and its log; false when there was none. */
  async delete(tenant: string, channel: string): Promise<boolean> {
    return this.storage.transaction(async (trx) => {
      const db = trx as unknown as Db;
      await db.deleteFrom('sb_document_updates').where('tenant', '=', tenant).where('channel', '=', channel).execute();
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
