import type { Kysely, Migration } from 'kysely';
import type { NamedMigration } from '../../storage/migration.js';

type Db = Kysely<unknown>;

/** Records and their fields (portable column types only; never edit a shipped migration). */
const tables: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_records')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .addColumn('field_count', 'integer', (c) => c.notNull())
      .addColumn('bytes', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_records_pk', ['tenant', 'channel'])
      .execute();
    await db.schema
      .createTable('sb_record_fields')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('field', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .addColumn('author', 'text', (c) => c.notNull())
      .addColumn('session', 'text')
      .addColumn('key_marks', 'text')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_record_fields_pk', ['tenant', 'channel', 'field'])
      .execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_record_fields').execute();
    await db.schema.dropTable('sb_records').execute();
  },
};

export const RECORD_MIGRATIONS: readonly NamedMigration[] = [{ name: 'records_0001_tables', ...tables }];
