import type { Kysely, Migration } from 'kysely';
import type { NamedMigration } from '../../storage/migration.js';

type Db = Kysely<unknown>;

/** Threads, their metadata entries and their comments (portable column types only; never edit a shipped migration). */
const threads: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_comment_threads')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('resolved', 'integer', (c) => c.notNull())
      .addColumn('resolved_at', 'bigint')
      .addColumn('resolved_by', 'text')
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('respond_by', 'bigint')
      .addColumn('last_seq', 'integer', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sb_comment_threads_channel').on('sb_comment_threads').columns(['tenant', 'channel', 'created_at', 'id']).execute();

    await db.schema
      .createTable('sb_comment_thread_meta')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('thread_id', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value_hash', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_comment_thread_meta_pk', ['thread_id', 'key'])
      .execute();
    await db.schema.createIndex('sb_comment_thread_meta_value').on('sb_comment_thread_meta').columns(['tenant', 'key', 'value_hash']).execute();

    await db.schema
      .createTable('sb_comments')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('thread_id', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('mentions', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('edited_at', 'bigint')
      .addColumn('deleted_at', 'bigint')
      .addUniqueConstraint('sb_comments_thread_seq', ['thread_id', 'seq'])
      .execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_comments').execute();
    await db.schema.dropTable('sb_comment_thread_meta').execute();
    await db.schema.dropTable('sb_comment_threads').execute();
  },
};

/** Reactions: one row per (comment, user, reaction), so two requests cannot both add one. */
const reactions: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_comment_reactions')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('thread_id', 'text', (c) => c.notNull())
      .addColumn('comment_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('reaction', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_comment_reactions_pk', ['comment_id', 'user_id', 'reaction'])
      .execute();
    await db.schema.createIndex('sb_comment_reactions_thread').on('sb_comment_reactions').columns(['tenant', 'thread_id']).execute();
    await db.schema
      .alterTable('sb_comments')
      .addColumn('reaction_version', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
  async down(db: Db) {
    await db.schema.alterTable('sb_comments').dropColumn('reaction_version').execute();
    await db.schema.dropTable('sb_comment_reactions').execute();
  },
};

/** Read receipts: one row per (thread, user), moved forward only. */
const receipts: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_comment_receipts')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('thread_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('comment_id', 'text', (c) => c.notNull())
      .addColumn('read_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_comment_receipts_pk', ['thread_id', 'user_id'])
      .execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_comment_receipts').execute();
  },
};

/** Thread subscriptions for reply notifications. */
const followers: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_comment_followers')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('thread_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('following', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_comment_followers_pk', ['thread_id', 'user_id'])
      .execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_comment_followers').execute();
  },
};

/** Deadlines for a first reply: when one came, and when the missed deadline was reported. */
const deadlines: Migration = {
  async up(db: Db) {
    await db.schema.alterTable('sb_comment_threads').addColumn('responded_at', 'bigint').execute();
    await db.schema.alterTable('sb_comment_threads').addColumn('sla_alerted_at', 'bigint').execute();
    await db.schema.createIndex('sb_comment_threads_respond_by').on('sb_comment_threads').columns(['respond_by']).execute();
  },
  async down(db: Db) {
    await db.schema.dropIndex('sb_comment_threads_respond_by').execute();
    await db.schema.alterTable('sb_comment_threads').dropColumn('sla_alerted_at').execute();
    await db.schema.alterTable('sb_comment_threads').dropColumn('responded_at').execute();
  },
};

/** In the order they apply. */
export const COMMENT_MIGRATIONS: readonly NamedMigration[] = [
  { name: 'comments_0001_threads', ...threads },
  { name: 'comments_0002_reactions', ...reactions },
  { name: 'comments_0003_receipts', ...receipts },
  { name: 'comments_0004_followers', ...followers },
  { name: 'comments_0005_deadlines', ...deadlines },
];
