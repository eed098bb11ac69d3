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
  /** Users whose changes were stored since the last version. */
  authors: string[];
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
 * since. An update is durable once `append` resolved (the log insert and the document row
 * commit together); `compact` folds the log into the snapshot in one transaction, deleting
 * only the rows it folded, so updates another node appends meanwhile stay in the log.
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
    const row = await this.#db
      .selectFrom('sb_documents')
      .select(['snapshot', 'snapshot_bytes', 'log_bytes', 'log_count', 'authors'])
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .executeTakeFirst();
    if (!row) return null;
    const log = await this.#db
      .selectFrom('sb_document_updates')
      .select('data')
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .orderBy('id')
      .execute();
    const updates = log.map((r) => new Uint8Array(r.data));
    return {
      snapshot: new Uint8Array(row.snapshot),
      updates,
      bytes: Number(row.snapshot_bytes) + updates.reduce((n, u) => n + u.byteLength, 0),
      logCount: updates.length,
      authors: parseAuthors(row.authors),
    };
  }

  /** Append updates to a document's log (creating the document), in one transaction; with `authors`, the document's list of them too. */
  async append(tenant: string, channel: string, updates: readonly Uint8Array[], authors?: readonly string[]): Promise<void> {
    if (updates.length === 0) return;
    const now = this.now();
    const bytes = updates.reduce((n, u) => n + u.byteLength, 0);
    await this.storage.transaction(async (trx) => {
      const db = trx as unknown as Db;
      await db
        .insertInto('sb_documents')
        .values({
          tenant,
          channel,
          snapshot: Buffer.alloc(0),
          snapshot_bytes: 0,
          log_count: updates.length,
          log_bytes: bytes,
          authors: JSON.stringify(authors ?? []),
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.columns(['tenant', 'channel']).doUpdateSet({
            log_count: sql<number>`sb_documents.log_count + ${updates.length}`,
            log_bytes: sql<number>`sb_documents.log_bytes + ${bytes}`,
            updated_at: now,
            ...(authors ? { authors: JSON.stringify(authors) } : {}),
          }),
        )
        .execute();
      await db
        .insertInto('sb_document_updates')
        .values(updates.map((u) => ({ tenant, channel, id: newOrderedId('u', now), data: bytesOf(u), created_at: now })))
        .execute();
    });
  }

  /**
   * Fold the log into the snapshot: `merge` gets the snapshot and the log (in order) and
   * returns the new snapshot. The log rows read are deleted in the same transaction (the
   * document row is locked on PostgreSQL), so nothing appended meanwhile is lost.
   */
  async compact(tenant: string, channel: string, merge: (snapshot: Uint8Array, updates: Uint8Array[]) => Uint8Array): Promise<Compaction> {
    return this.storage.transaction(async (trx) => {
      const db = trx as unknown as Db;
      let read = db.selectFrom('sb_documents').select(['snapshot']).where('tenant', '=', tenant).where('channel', '=', channel);
      if (this.storage.kind === 'postgres') read = read.forUpdate();
      const row = await read.executeTakeFirst();
      if (!row) return NONE;
      const log = await db
        .selectFrom('sb_document_updates')
        .select(['id', 'data'])
        .where('tenant', '=', tenant)
        .where('channel', '=', channel)
        .orderBy('id')
        .execute();
      if (log.length === 0) return NONE;
      const snapshot = merge(
        new Uint8Array(row.snapshot),
        log.map((r) => new Uint8Array(r.data)),
      );
      const folded = log.reduce((n, r) => n + r.data.byteLength, 0);
      // By id, not by range: another node's update committed meanwhile may sort before the last one read.
      for (let i = 0; i < log.length; i += DELETE_CHUNK) {
        const ids = log.slice(i, i + DELETE_CHUNK).map((r) => r.id);
        await db.deleteFrom('sb_document_updates').where('tenant', '=', tenant).where('channel', '=', channel).where('id', 'in', ids).execute();
      }
      await db
        .updateTable('sb_documents')
        .set({
          snapshot: bytesOf(snapshot),
          snapshot_bytes: snapshot.byteLength,
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
