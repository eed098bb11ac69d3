import { type Kysely, type Migration, PostgresAdapter } from 'kysely';
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

export const DOCUMENT_MIGRATIONS: readonly NamedMigration[] = [{ name: 'documents_0001_tables', ...tables }];
