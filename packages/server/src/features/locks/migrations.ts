import type { Kysely, Migration } from 'kysely';
import type { NamedMigration } from '../../storage/migration.js';

type Db = Kysely<unknown>;

/** The locks table (portable column types only; never edit a shipped migration). */
const locks: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_locks')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('lock_key', 'text', (c) => c.notNull())
      .addColumn('token', 'bigint', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text')
      .addColumn('session', 'text')
      .addColumn('node', 'text')
      .addColumn('attributes', 'text')
      .addColumn('acquired_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .addPrimaryKeyConstraint('sb_locks_pk', ['tenant', 'channel', 'lock_key'])
      .execute();
    await db.schema.createIndex('sb_locks_user').on('sb_locks').columns(['tenant', 'user_id']).execute();
    await db.schema.createIndex('sb_locks_node').on('sb_locks').column('node').execute();
    await db.schema.createIndex('sb_locks_expires').on('sb_locks').column('expires_at').execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_locks').execute();
  },
};

export const LOCK_MIGRATIONS: readonly NamedMigration[] = [{ name: 'locks_0001_table', ...locks }];
