import type { Kysely } from 'kysely';
import { newOrderedId } from '../../storage/ids.js';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import { parseAuthors } from './store.js';
import type { DocumentTables } from './tables.js';

type Db = Kysely<SharedTables & DocumentTables>;

/** A named version of a document, without its state. */
export interface VersionInfo {
  id: string;
  label: string | null;
  createdBy: string | null;
  /** The users whose changes went in since the version before. */
  authors: string[];
  createdAt: number;
  bytes: number;
}

/** Named versions of documents: the whole state at one moment, kept until the document is deleted. */
export class VersionStore {
  readonly #db: Db;

  constructor(
    private readonly storage: Storage,
    private readonly now: () => number,
  ) {
    this.#db = storage.tables<DocumentTables>();
  }

  /**
   * Keep a version. Its authors are `authors` (changes not yet written with the log) and the
   * document's stored list of them (written by every node), which starts again empty in the
   * same transaction.
   */
  async create(
    tenant: string,
    channel: string,
    version: { snapshot: Uint8Array; label: string | null; createdBy: string | null; authors: string[] },
  ): Promise<VersionInfo> {
    const createdAt = this.now();
    const id = newOrderedId('v', createdAt);
    const { snapshot, label, createdBy } = version;
    const authors = await this.storage.transaction(async (trx) => {
      const db = trx as unknown as Db;
      let read = db.selectFrom('sb_documents').select('authors').where('tenant', '=', tenant).where('channel', '=', channel);
      if (this.storage.kind === 'postgres') read = read.forUpdate();
      const stored = parseAuthors((await read.executeTakeFirst())?.authors ?? '[]');
      const all = [...new Set(stored.concat(version.authors))].sort();
      await db
        .insertInto('sb_document_versions')
        .values({
          tenant,
          channel,
          id,
          label,
          created_by: createdBy,
          authors: JSON.stringify(all),
          created_at: createdAt,
          bytes: snapshot.byteLength,
          snapshot: Buffer.from(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength),
        })
        .execute();
      await db.updateTable('sb_documents').set({ authors: '[]' }).where('tenant', '=', tenant).where('channel', '=', channel).execute();
      return all;
    });
    return { id, label, createdBy, authors, createdAt, bytes: snapshot.byteLength };
  }

  /** When the document's last version was taken (Unix ms), 0 when it has none. */
  async latestAt(tenant: string, channel: string): Promise<number> {
    const row = await this.#db
      .selectFrom('sb_document_versions')
      .select('created_at')
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? Number(row.created_at) : 0;
  }

  /** A document's versions, newest first. */
  async list(tenant: string, channel: string, limit: number): Promise<VersionInfo[]> {
    const rows = await this.#db
      .selectFrom('sb_document_versions')
      .select(['id', 'label', 'created_by', 'authors', 'created_at', 'bytes'])
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      label: r.label,
      createdBy: r.created_by,
      authors: parseAuthors(r.authors),
      createdAt: Number(r.created_at),
      bytes: Number(r.bytes),
    }));
  }

  /** One version with its state, or null. */
  async get(tenant: string, channel: string, id: string): Promise<(VersionInfo & { snapshot: Uint8Array }) | null> {
    const r = await this.#db
      .selectFrom('sb_document_versions')
      .select(['id', 'label', 'created_by', 'authors', 'created_at', 'bytes', 'snapshot'])
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!r) return null;
    return {
      id: r.id,
      label: r.label,
      createdBy: r.created_by,
      authors: parseAuthors(r.authors),
      createdAt: Number(r.created_at),
      bytes: Number(r.bytes),
      snapshot: new Uint8Array(r.snapshot),
    };
  }

  /** Delete a document's versions (with the document). */
  async deleteAll(tenant: string, channel: string): Promise<void> {
    await this.#db.deleteFrom('sb_document_versions').where('tenant', '=', tenant).where('channel', '=', channel).execute();
  }
}
