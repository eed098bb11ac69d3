import { type Kysely, sql } from 'kysely';
import { createError, SwitchboardError } from '../errors/sb-error.js';
import type { NamedMigration } from './migration.js';
import { SHARED_MIGRATIONS } from './migrations.js';
import type { Storage } from './storage.js';

/** One step of a migration run, for progress output. */
export type MigrationProgress =
  | { kind: 'pending'; total: number; pending: string[] }
  | { kind: 'applied'; name: string; index: number; total: number; ms: number };

export interface MigrationSummary {
  applied: string[];
  /** Migrations the database already had. */
  upToDate: number;
}

/**
 * The record of applied migrations: the table (and columns) kysely's Migrator wrote before,
 * so a database migrated by an earlier version keeps its record and nothing runs twice.
 */
const TABLE = 'sb_migrations';

type Db = Kysely<unknown>;
type MigrationRow = { name: string; timestamp: string };
type MigrationsDb = Kysely<{ sb_migrations: MigrationRow }>;

/**
 * PostgreSQL: the schema the connection writes to (first of its search_path). The record is
 * read and written there by name, so another schema's record in the same database is never
 * taken for this one's.
 */
async function targetSchema(storage: Storage): Promise<string | undefined> {
  if (storage.kind !== 'postgres') return undefined;
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(storage.db);
  const schema = rows[0]?.schema;
  if (!schema) throw createError('SB_ERR_STORAGE', `${storage.location}: no schema of the search_path exists`);
  return schema;
}

function failure(storage: Storage, err: unknown, name?: string): Error {
  if (err instanceof SwitchboardError) return err;
  const what = name ? `migration ${name}` : 'migrations';
  return createError('SB_ERR_STORAGE', `${storage.location}: ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
}

/** The whole list: shared first, then each feature's in registration order; names unique. */
export function migrationList(featureMigrations: readonly NamedMigration[]): NamedMigration[] {
  const all = [...SHARED_MIGRATIONS, ...featureMigrations];
  const seen = new Set<string>();
  for (const m of all) {
    if (seen.has(m.name)) throw createError('SB_ERR_FEATURE_MANIFEST', `migration "${m.name}" is declared twice`);
    seen.add(m.name);
  }
  return all;
}

class Recorder {
  constructor(
    private readonly storage: Storage,
    private readonly schema: string | undefined,
  ) {}

  #table(db: Db): MigrationsDb {
    const typed = db as unknown as MigrationsDb;
    return this.schema ? typed.withSchema(this.schema) : typed;
  }

  /** Run `fn` in one transaction; on PostgreSQL it holds a lock per schema, so nodes migrating at once take turns. */
  async locked<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    return (this.storage.db as unknown as Db).transaction().execute(async (trx) => {
      if (this.schema) await sql`select pg_advisory_xact_lock(hashtext(${`${this.schema}.${TABLE}`}))`.execute(trx);
      return fn(trx);
    });
  }

  async ensureTable(): Promise<void> {
    await this.locked(async (trx) => {
      const schema = this.schema ? trx.schema.withSchema(this.schema) : trx.schema;
      await schema
        .createTable(TABLE)
        .ifNotExists()
        .addColumn('name', 'varchar(255)', (c) => c.notNull().primaryKey())
        .addColumn('timestamp', 'varchar(255)', (c) => c.notNull())
        .execute();
    });
  }

  async applied(db: Db): Promise<Set<string>> {
    const rows = await this.#table(db).selectFrom(TABLE).select('name').execute();
    return new Set(rows.map((r) => r.name));
  }

  async record(db: Db, name: string): Promise<void> {
    await this.#table(db).insertInto(TABLE).values({ name, timestamp: new Date().toISOString() }).execute();
  }
}

/**
 * Apply every pending migration of `migrations` in list order, each in its own transaction
 * with its record, reporting each step. Safe to run again (nothing pending: nothing done)
 * and from several nodes at once. Applied migrations that are not in the list (a feature the
 * server no longer runs) are left alone.
 */
export async function migrateToLatest(
  storage: Storage,
  migrations: readonly NamedMigration[],
  onProgress: (p: MigrationProgress) => void = () => {},
): Promise<MigrationSummary> {
  let recorder: Recorder;
  let done: Set<string>;
  try {
    recorder = new Recorder(storage, await targetSchema(storage));
    await recorder.ensureTable();
    done = await recorder.applied(storage.db as unknown as Db);
  } catch (err) {
    throw failure(storage, err);
  }
  const pending = migrations.filter((m) => !done.has(m.name));
  onProgress({ kind: 'pending', total: pending.length, pending: pending.map((m) => m.name) });
  const applied: string[] = [];
  for (const [i, m] of pending.entries()) {
    const started = performance.now();
    let ran: boolean;
    try {
      ran = await recorder.locked(async (trx) => {
        if ((await recorder.applied(trx)).has(m.name)) return false; // another node applied it meanwhile
        await m.up(trx);
        await recorder.record(trx, m.name);
        return true;
      });
    } catch (err) {
      throw failure(storage, err, m.name);
    }
    if (!ran) continue;
    applied.push(m.name);
    onProgress({ kind: 'applied', name: m.name, index: i + 1, total: pending.length, ms: Math.round(performance.now() - started) });
  }
  return { applied, upToDate: migrations.length - pending.length };
}
