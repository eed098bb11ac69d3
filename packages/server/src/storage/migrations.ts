import { type Kysely, type Migration, sql } from 'kysely';
import type { NamedMigration } from './migration.js';

/**
 * The shared tables, as ordered migrations in code: the same list for SQLite and PostgreSQL
 * (only portable column types: text, integer, bigint). They run before every feature's
 * own migrations. Never edit a migration that has shipped; add the next one.
 */
type Db = Kysely<unknown>;

const users: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_users')
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
    await db.schema
      .createTable('sb_idempotency_keys')
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

const tenantQuotas: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_tenant_quotas')
      .addColumn('tenant', 'text', (c) => c.primaryKey())
      .addColumn('quotas', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_tenant_quotas').execute();
  },
};

const jobs: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('due_at', 'bigint', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('max_attempts', 'integer', (c) => c.notNull())
      .addColumn('lease_owner', 'text')
      .addColumn('lease_expires', 'bigint')
      .addColumn('last_error', 'text')
      .addColumn('result', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    // The claim scans what is due by status; lists and caps go by kind and tenant.
    await db.schema.createIndex('sb_jobs_due').on('sb_jobs').columns(['status', 'due_at']).execute();
    await db.schema.createIndex('sb_jobs_tenant').on('sb_jobs').columns(['kind', 'tenant', 'due_at', 'id']).execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_jobs').execute();
  },
};

const jobQueues: Migration = {
  async up(db: Db) {
    await db.schema.alterTable('sb_jobs').addColumn('queue', 'text').execute();
    await db.schema.createIndex('sb_jobs_queue').on('sb_jobs').columns(['queue', 'status', 'due_at']).execute();
  },
  async down(db: Db) {
    await db.schema.dropIndex('sb_jobs_queue').execute();
    await db.schema.alterTable('sb_jobs').dropColumn('queue').execute();
  },
};

/**
 * The job indexes hold what their statements look for, not every row in every state: each
 * write of a job (insert, claim or borrow, finish) was a new entry in four full indexes, and
 * on PostgreSQL a drain of a webhook backlog spent most of its time writing them. Pending jobs
 * by due time, running ones by lease end, finished ones by their last update (the sweeps), a
 * queue's pending jobs by due time, and the per-kind lists and caps over jobs without a queue
 * (a queue's jobs are listed by their feature: webhooks' messages). A statement uses a partial
 * index only when it names the index's condition with the same literal (`JobStore`,
 * `jobIs`).
 */
const jobPartialIndexes: Migration = {
  async up(db: Db) {
    await db.schema.dropIndex('sb_jobs_due').execute();
    await db.schema.dropIndex('sb_jobs_queue').execute();
    await db.schema.dropIndex('sb_jobs_tenant').execute();
    await sql`create index sb_jobs_pending on sb_jobs (due_at) where status = 'pending'`.execute(db);
    await sql`create index sb_jobs_running on sb_jobs (lease_expires) where status = 'running'`.execute(db);
    await sql`create index sb_jobs_finished on sb_jobs (updated_at) where status in ('done', 'failed', 'cancelled')`.execute(db);
    await sql`create index sb_jobs_queue_pending on sb_jobs (queue, due_at) where status = 'pending'`.execute(db);
    await sql`create index sb_jobs_unqueued on sb_jobs (kind, tenant, due_at, id) where queue is null`.execute(db);
  },
  async down(db: Db) {
    for (const name of ['sb_jobs_pending', 'sb_jobs_running', 'sb_jobs_finished', 'sb_jobs_queue_pending', 'sb_jobs_unqueued'])
      await db.schema.dropIndex(name).execute();
    await db.schema.createIndex('sb_jobs_due').on('sb_jobs').columns(['status', 'due_at']).execute();
    await db.schema.createIndex('sb_jobs_tenant').on('sb_jobs').columns(['kind', 'tenant', 'due_at', 'id']).execute();
    await db.schema.createIndex('sb_jobs_queue').on('sb_jobs').columns(['queue', 'status', 'due_at']).execute();
  },
};

/** The shared migrations, in the order they apply. */
export const SHARED_MIGRATIONS: readonly NamedMigration[] = Object.freeze([
  { name: '0001_users', ...users },
  { name: '0002_idempotency_keys', ...idempotency },
  { name: '0005_tenant_quotas', ...tenantQuotas },
  { name: '0006_jobs', ...jobs },
  { name: '0007_job_queues', ...jobQueues },
  { name: '0008_job_partial_indexes', ...jobPartialIndexes },
]);
