import { type Kysely, type Migration, sql } from 'kysely';
import type { NamedMigration } from '../../storage/migration.js';

type Db = Kysely<unknown>;

/** Tables of webhooks (portable column types only; never edit a shipped migration). */
const webhooks: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_webhook_endpoints')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('events', 'text', (c) => c.notNull())
      .addColumn('channels', 'text', (c) => c.notNull())
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('previous_secret', 'text')
      .addColumn('previous_until', 'bigint')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('disabled_reason', 'text')
      .addColumn('failing_since', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sb_webhook_endpoints_tenant').on('sb_webhook_endpoints').columns(['tenant', 'created_at']).execute();
    await db.schema
      .createTable('sb_webhook_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('occurred_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('sb_webhook_messages')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('endpoint_id', 'text', (c) => c.notNull())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sb_webhook_messages_endpoint').on('sb_webhook_messages').columns(['endpoint_id', 'created_at']).execute();
    await db.schema.createIndex('sb_webhook_messages_event').on('sb_webhook_messages').column('event_id').execute();
    await db.schema
      .createTable('sb_webhook_attempts')
      .addColumn('message_id', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('response_status', 'integer')
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addColumn('error', 'text')
      .execute();
    await db.schema.createIndex('sb_webhook_attempts_message').on('sb_webhook_attempts').columns(['message_id', 'at']).execute();
  },
  async down(db: Db) {
    for (const t of ['sb_webhook_attempts', 'sb_webhook_messages', 'sb_webhook_events', 'sb_webhook_endpoints'])
      await db.schema.dropTable(t).ifExists().execute();
  },
};

/** Membership, decided occupancy and open connections, for the lifecycle events. */
const lifecycle: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_webhook_members')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('connection_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('node', 'text', (c) => c.notNull())
      .addColumn('state', 'text')
      .addColumn('joined_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_webhook_members_pk', ['tenant', 'channel', 'kind', 'connection_id'])
      .execute();
    await db.schema.createIndex('sb_webhook_members_user').on('sb_webhook_members').columns(['tenant', 'channel', 'kind', 'user_id']).execute();
    await db.schema.createIndex('sb_webhook_members_node').on('sb_webhook_members').column('node').execute();
    await db.schema
      .createTable('sb_webhook_occupancy')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('signature', 'text')
      .addColumn('since', 'bigint', (c) => c.notNull())
      .addColumn('empty_since', 'bigint')
      .addPrimaryKeyConstraint('sb_webhook_occupancy_pk', ['tenant', 'channel', 'user_id'])
      .execute();
    await db.schema
      .createTable('sb_webhook_connections')
      .addColumn('connection_id', 'text', (c) => c.primaryKey())
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('node', 'text', (c) => c.notNull())
      .addColumn('opened_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sb_webhook_connections_node').on('sb_webhook_connections').column('node').execute();
  },
  async down(db: Db) {
    for (const t of ['sb_webhook_connections', 'sb_webhook_occupancy', 'sb_webhook_members']) await db.schema.dropTable(t).ifExists().execute();
  },
};

/** Opt-in batching per endpoint: its window and largest batch (both null: one event per request). */
const batching: Migration = {
  async up(db: Db) {
    await db.schema.alterTable('sb_webhook_endpoints').addColumn('batch_window', 'bigint').execute();
    await db.schema.alterTable('sb_webhook_endpoints').addColumn('batch_size', 'integer').execute();
  },
  async down(db: Db) {
    await db.schema.alterTable('sb_webhook_endpoints').dropColumn('batch_size').execute();
    await db.schema.alterTable('sb_webhook_endpoints').dropColumn('batch_window').execute();
  },
};

/**
 * Unfinished deliveries get their endpoint as their job queue (`sb_jobs.queue`, added by the
 * shared migration 0007): an endpoint's pending messages are then read along that index.
 */
const jobQueues: Migration = {
  async up(db: Db) {
    await sql`update sb_jobs set queue = (select m.endpoint_id from sb_webhook_messages m where m.id = sb_jobs.id)
      where kind = 'webhooks.deliver' and status in ('pending', 'running') and queue is null`.execute(db);
  },
  async down(db: Db) {
    await sql`update sb_jobs set queue = null where kind = 'webhooks.deliver'`.execute(db);
  },
};

export const WEBHOOK_MIGRATIONS: readonly NamedMigration[] = [
  { name: 'webhooks_0001_tables', ...webhooks },
  { name: 'webhooks_0002_lifecycle', ...lifecycle },
  { name: 'webhooks_0003_batching', ...batching },
  { name: 'webhooks_0004_job_queues', ...jobQueues },
];
