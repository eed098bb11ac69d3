import type { Kysely, Migration } from 'kysely';

/**
 * The schema, as ordered migrations in code: the same list for SQLite and PostgreSQL
 * (only portable column types: text, integer, bigint). Never edit a migration that has
 * shipped; add the next one.
 */
type Db = Kysely<unknown>;

const users: Migration = {
  async up(db: Db) {
    await db.schema.createTable('sb_users')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('first_seen', 'bigint', (c) => c.notNull())
      .addColumn('last_seen', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_users_pk', ['tenant', 'user_id'])
      .execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_users').execute();
  },
};

const idempotency: Migration = {
  async up(db: Db) {
    await db.schema.createTable('sb_idempotency_keys')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('result', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_idempotency_keys_pk', ['tenant', 'scope', 'key'])
      .execute();
    await db.schema.createIndex('sb_idempotency_keys_created').on('sb_idempotency_keys').column('created_at').execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_idempotency_keys').execute();
  },
};

const notifications: Migration = {
  async up(db: Db) {
    await db.schema.createTable('sb_notifications')
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

    await db.schema.createTable('sb_notification_preferences')
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

const activities: Migration = {
  async up(db: Db) {
    await db.schema.createTable('sb_activities')
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

/** Every migration by name; names sort in the order they apply. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = Object.freeze({
  '0001_users': users,
  '0002_idempotency_keys': idempotency,
  '0003_notifications': notifications,
  '0004_activities': activities,
});
