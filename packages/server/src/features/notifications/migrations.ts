import type { Kysely, Migration } from 'kysely';
import type { NamedMigration } from '../../storage/migration.js';

type Db = Kysely<unknown>;

/** Tables of the notifications inbox (portable column types only; never edit a shipped migration). */
const notifications: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_notifications')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('body', 'text')
      .addColumn('data', 'text')
      .addColumn('link', 'text')
      .addColumn('priority', 'integer', (c) => c.notNull())
      .addColumn('category', 'text')
      .addColumn('actors', 'text', (c) => c.notNull())
      .addColumn('actor_count', 'integer', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addColumn('resource', 'text')
      .addColumn('group_key', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('read_at', 'bigint')
      .addColumn('seen_at', 'bigint')
      .addColumn('archived_at', 'bigint')
      .execute();
    await db.schema.createIndex('sb_notifications_user_created').on('sb_notifications').columns(['tenant', 'user_id', 'created_at', 'id']).execute();
    await db.schema.createIndex('sb_notifications_user_unread').on('sb_notifications').columns(['tenant', 'user_id', 'read_at', 'archived_at']).execute();
    await db.schema.createIndex('sb_notifications_group').on('sb_notifications').columns(['tenant', 'user_id', 'group_key', 'created_at']).execute();
    await db.schema.createIndex('sb_notifications_created').on('sb_notifications').column('created_at').execute();

    await db.schema
      .createTable('sb_notification_preferences')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('muted_types', 'text', (c) => c.notNull())
      .addColumn('muted_categories', 'text', (c) => c.notNull())
      .addColumn('min_priority', 'integer', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_notification_preferences_pk', ['tenant', 'user_id'])
      .execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_notification_preferences').execute();
    await db.schema.dropTable('sb_notifications').execute();
  },
};

/** In the order they apply; the name is kept from when it was a shared migration, so existing databases match. */
export const NOTIFICATION_MIGRATIONS: readonly NamedMigration[] = [{ name: '0003_notifications', ...notifications }];
