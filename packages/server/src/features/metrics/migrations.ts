import { type Kysely, type Migration, PostgresAdapter } from 'kysely';
import type { NamedMigration } from '../../storage/migration.js';

type Db = Kysely<unknown>;

/** Binary columns: `bytea` on PostgreSQL, `blob` on SQLite. */
const binary = (db: Db) => (db.getExecutor().adapter instanceof PostgresAdapter ? 'bytea' : 'blob');

/**
 * Stored 1-minute buckets, series declared over HTTP and saved dashboards (portable column
 * types only; never edit a shipped migration). A minute row is one writer's part of a
 * minute (see persist.ts): the parts of one minute merge when read.
 */
const tables: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('sb_metric_minutes')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('series', 'text', (c) => c.notNull())
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('minute', 'bigint', (c) => c.notNull())
      .addColumn('writer', 'text', (c) => c.notNull())
      .addColumn('count', 'bigint', (c) => c.notNull())
      .addColumn('sum', 'double precision', (c) => c.notNull())
      .addColumn('min', 'double precision', (c) => c.notNull())
      .addColumn('max', 'double precision', (c) => c.notNull())
      .addColumn('last', 'double precision', (c) => c.notNull())
      .addColumn('bucket', binary(db), (c) => c.notNull())
      .addColumn('written_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_metric_minutes_pk', ['tenant', 'series', 'labels', 'minute', 'writer'])
      .execute();
    await db.schema.createIndex('sb_metric_minutes_minute').on('sb_metric_minutes').column('minute').execute();
    await db.schema
      .createTable('sb_metric_series')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('declaration', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_metric_series_pk', ['tenant', 'name'])
      .execute();
    await db.schema
      .createTable('sb_metric_dashboards')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('dashboard', 'text', (c) => c.notNull())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_metric_dashboards_pk', ['tenant', 'id'])
      .execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('sb_metric_dashboards').execute();
    await db.schema.dropTable('sb_metric_series').execute();
    await db.schema.dropTable('sb_metric_minutes').execute();
  },
};

export const METRIC_MIGRATIONS: readonly NamedMigration[] = [{ name: 'metrics_0001_tables', ...tables }];
