import { type Kysely, type Migration, PostgresAdapter, sql } from 'kysely';
import type { NamedMigration } from '../../storage/migration.js';

type Db = Kysely<unknown>;

/** Binary columns: `bytea` on PostgreSQL, `blob` on SQLite. */
const binary = (db: Db) => (db.getExecutor().adapter instanceof PostgresAdapter ? 'bytea' : 'blob');

/** The documents, their update logs and their versions (never edit a shipped migration). */
const tables: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_documents')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('snapshot', binary(db), (c) => c.notNull())
      .addColumn('snapshot_bytes', 'bigint', (c) => c.notNull())
      .addColumn('log_count', 'bigint', (c) => c.notNull())
      .addColumn('log_bytes', 'bigint', (c) => c.notNull())
      .addColumn('authors', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_documents_pk', ['tenant', 'channel'])
      .execute();
    await db.schema
      .createTable('sb_document_updates')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('data', binary(db), (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_document_updates_pk', ['tenant', 'channel', 'id'])
      .execute();
    await db.schema
      .createTable('sb_document_versions')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('label', 'text')
      .addColumn('created_by', 'text')
      .addColumn('authors', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('bytes', 'bigint', (c) => c.notNull())
      .addColumn('snapshot', binary(db), (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_document_versions_pk', ['tenant', 'channel', 'id'])
      .execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_document_versions').execute();
    await db.schema.dropTable('sb_document_updates').execute();
    await db.schema.dropTable('sb_documents').execute();
  },
};

/**
 * Sequence numbers for the log, so every node that holds a document knows which updates it
 * has: `seq` on a document is the last number given to one of its updates (numbers are
 * given under the document row's lock, so they commit in order), `snapshot_seq` the last one
 * folded into the snapshot, and `compact_fence` the fencing token of the last compaction
 * (a compaction with an older lease changes nothing). Rows logged before have seq 0.
 */
const sequence: Migration = {
  async up(db: Db) {
    for (const column of ['seq', 'snapshot_seq', 'compact_fence']) {
      await db.schema
        .alterTable('sb_documents')
        .addColumn(column, 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
    }
    await db.schema
      .alterTable('sb_document_updates')
      .addColumn('seq', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('sb_document_updates_seq').on('sb_document_updates').columns(['tenant', 'channel', 'seq']).execute();
  },
  async down(db: Db) {
    await db.schema.dropIndex('sb_document_updates_seq').execute();
    await db.schema.alterTable('sb_document_updates').dropColumn('seq').execute();
    for (const column of ['compact_fence', 'snapshot_seq', 'seq']) await db.schema.alterTable('sb_documents').dropColumn(column).execute();
  },
};

/**
 * The snapshot in a table of its own: the document row changes with every write of the log
 * (its counters), and a row that also held the snapshot was rewritten whole each time
 * (SQLite copies a row's every page on update), so a write cost as much as the document's
 * size. The snapshot now changes only when a compaction folds the log into it.
 */
const snapshots: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_document_snapshots')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('snapshot', binary(db), (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_document_snapshots_pk', ['tenant', 'channel'])
      .execute();
    await sql`insert into sb_document_snapshots (tenant, channel, snapshot) select tenant, channel, snapshot from sb_documents`.execute(db);
    await db.schema.alterTable('sb_documents').dropColumn('snapshot').execute();
  },
  async down(db: Db) {
    await db.schema
      .alterTable('sb_documents')
      .addColumn('snapshot', binary(db), (c) => c.notNull().defaultTo(sql`''`))
      .execute();
    await sql`update sb_documents set snapshot = (select s.snapshot from sb_document_snapshots s where s.tenant = sb_documents.tenant and s.channel = sb_documents.channel)
      where exists (select 1 from sb_document_snapshots s where s.tenant = sb_documents.tenant and s.channel = sb_documents.channel)`.execute(db);
    await db.schema.dropTable('sb_document_snapshots').execute();
  },
};

export const DOCUMENT_MIGRATIONS: readonly NamedMigration[] = [
  { name: 'documents_0001_tables', ...tables },
  { name: 'documents_0002_sequence', ...sequence },
  { name: 'documents_0003_snapshots', ...snapshots },
];
