import type { Kysely, Migration } from 'kysely';
import type { NamedMigration } from '../../storage/migration.js';

type Db = Kysely<unknown>;

/** The audit table (portable column types only; never edit a shipped migration). */
const entries: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_audit_entries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('user_id', 'text')
      .addColumn('ip', 'text')
      .addColumn('count', 'integer', (c) => c.notNull())
      .addColumn('first_at', 'bigint', (c) => c.notNull())
      .addColumn('last_at', 'bigint', (c) => c.notNull())
      .addColumn('detail', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sb_audit_entries_tenant_at').on('sb_audit_entries').columns(['tenant', 'at', 'id']).execute();
    await db.schema.createIndex('sb_audit_entries_at').on('sb_audit_entries').column('at').execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_audit_entries').ifExists().execute();
  },
};

export const AUDIT_MIGRATIONS: readonly NamedMigration[] = [{ name: 'audit_0001_entries', ...entries }];
