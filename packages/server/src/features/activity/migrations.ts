import type { Kysely, Migration } from 'kysely';
import type { NamedMigration } from '../../storage/migration.js';

type Db = Kysely<unknown>;

/** The activity table (portable column types only; never edit a shipped migration). */
const activities: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_activities')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('verb', 'text', (c) => c.notNull())
      .addColumn('object', 'text')
      .addColumn('target', 'text')
      .addColumn('data', 'text')
      .addColumn('time', 'bigint', (c) => c.notNull())
      .addColumn('last_time', 'bigint', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addColumn('objects', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sb_activities_scope_time').on('sb_activities').columns(['tenant', 'scope', 'time', 'id']).execute();
    await db.schema.createIndex('sb_activities_tenant_time').on('sb_activities').columns(['tenant', 'time', 'id']).execute();
    await db.schema.createIndex('sb_activities_actor_time').on('sb_activities').columns(['tenant', 'actor', 'time']).execute();
    await db.schema.createIndex('sb_activities_time').on('sb_activities').column('time').execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_activities').execute();
  },
};

/** In the order they apply; the name is kept from when it was a shared migration, so existing databases match. */
export const ACTIVITY_MIGRATIONS: readonly NamedMigration[] = [{ name: '0004_activities', ...activities }];
