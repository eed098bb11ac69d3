import type { NamedMigration } from '@switchboard/server';
import type { Kysely } from 'kysely';

/** The widgets table; portable column types only, as the shared migrations. */
export const WIDGET_MIGRATIONS: readonly NamedMigration[] = [
  {
    name: 'widgets_0001_widgets',
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('test_widgets')
        .addColumn('tenant', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('test_widgets_pk', ['tenant', 'name'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('test_widgets').execute();
    },
  },
];
