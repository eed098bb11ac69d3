import { type Kysely, type Migration, SqliteAdapter, sql } from 'kysely';
import type { NamedMigration } from '../../storage/migration.js';
import { searchText } from './search.js';

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

const isSqlite = (db: Db): boolean => db.getExecutor().adapter instanceof SqliteAdapter;

type BackfillRow = { id: string; actor: string; verb: string; object: string | null; target: string | null; data: string | null; objects: string };

/** Compute `search_text` of the rows recorded before search existed, a batch at a time. */
async function backfillSearchText(db: Db): Promise<void> {
  const t = db as unknown as Kysely<{ sb_activities: BackfillRow & { search_text: string } }>;
  let after = '';
  for (;;) {
    const rows = await t
      .selectFrom('sb_activities')
      .select(['id', 'actor', 'verb', 'object', 'target', 'data', 'objects'])
      .where('id', '>', after)
      .orderBy('id')
      .limit(500)
      .execute();
    for (const r of rows) {
      const text = searchText({ ...r, objects: JSON.parse(r.objects) as string[], data: r.data === null ? null : (JSON.parse(r.data) as unknown) });
      await t.updateTable('sb_activities').set({ search_text: text }).where('id', '=', r.id).execute();
    }
    if (rows.length < 500) return;
    after = (rows.at(-1) as BackfillRow).id;
  }
}

/**
 * Full-text search (search.ts makes the words; both stores index them as they are).
 * `search_text` holds an activity's words. SQLite: a contentless FTS5 table kept by
 * triggers; each activity keeps the rowid of its index entry in `fts_rowid` (the table's own
 * rowid is not stable across VACUUM, an explicit one is), so inserts, merges and retention
 * deletes all reach the index. PostgreSQL: a generated tsvector of the same words, GIN-indexed.
 */
const search: Migration = {
  async up(db: Db) {
    await db.schema
      .alterTable('sb_activities')
      .addColumn('search_text', 'text', (c) => c.notNull().defaultTo(''))
      .execute();
    if (isSqlite(db)) {
      await db.schema.alterTable('sb_activities').addColumn('fts_rowid', 'integer').execute();
      await sql`create virtual table sb_activities_fts using fts5(search_text, content='', contentless_delete=1, tokenize='ascii', prefix='2 3')`.execute(db);
      await sql`create trigger sb_activities_fts_insert after insert on sb_activities begin
        insert into sb_activities_fts(search_text) values (new.search_text);
        update sb_activities set fts_rowid = last_insert_rowid() where id = new.id;
      end`.execute(db);
      await sql`create trigger sb_activities_fts_update after update of search_text on sb_activities begin
        delete from sb_activities_fts where rowid = old.fts_rowid;
        insert into sb_activities_fts(search_text) values (new.search_text);
        update sb_activities set fts_rowid = last_insert_rowid() where id = new.id;
      end`.execute(db);
      await sql`create trigger sb_activities_fts_delete after delete on sb_activities begin
        delete from sb_activities_fts where rowid = old.fts_rowid;
      end`.execute(db);
      await backfillSearchText(db);
      return;
    }
    await backfillSearchText(db);
    await sql`alter table sb_activities add column search_vector tsvector
      generated always as (array_to_tsvector(string_to_array(search_text, ' '))) stored`.execute(db);
    await sql`create index sb_activities_search on sb_activities using gin (search_vector)`.execute(db);
  },
  async down(db: Db) {
    if (isSqlite(db)) {
      for (const trigger of ['insert', 'update', 'delete']) await sql`drop trigger if exists ${sql.raw(`sb_activities_fts_${trigger}`)}`.execute(db);
      await sql`drop table if exists sb_activities_fts`.execute(db);
      await db.schema.alterTable('sb_activities').dropColumn('fts_rowid').execute();
    } else {
      await db.schema.alterTable('sb_activities').dropColumn('search_vector').execute();
    }
    await db.schema.alterTable('sb_activities').dropColumn('search_text').execute();
  },
};

/** In the order they apply; the first name is kept from when it was a shared migration, so existing databases match. */
export const ACTIVITY_MIGRATIONS: readonly NamedMigration[] = [
  { name: '0004_activities', ...activities },
  { name: 'activity_0002_search', ...search },
];
