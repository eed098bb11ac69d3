import { type MigrationResult, Migrator, sql } from 'kysely';
import { SwitchboardError, createError } from '../core/sb-error.js';
import { MIGRATIONS } from './migrations.js';
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
 * PostgreSQL: the schema the connection writes to (first of its search_path). The migrator
 * must be told, or it would take another schema's migration table in the same database for
 * this one's.
 */
async function targetSchema(storage: Storage): Promise<string | undefined> {
  if (storage.kind !== 'postgres') return undefined;
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(storage.db);
  const schema = rows[0]?.schema;
  if (!schema) throw createError('SB_ERR_STORAGE', `${storage.location}: no schema of the search_path exists`);
  return schema;
}

async function migrator(storage: Storage): Promise<Migrator> {
  const schema = await targetSchema(storage);
  return new Migrator({
    db: storage.db,
    provider: { getMigrations: async () => ({ ...MIGRATIONS }) },
    migrationTableName: 'sb_migrations',
    migrationLockTableName: 'sb_migrations_lock',
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
}

function failure(storage: Storage, err: unknown, step?: MigrationResult): Error {
  if (err instanceof SwitchboardError) return err;
  const what = step ? `migration ${step.migrationName}` : 'migrations';
  return createError('SB_ERR_STORAGE', `${storage.location}: ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
}

/**
 * Apply every pending migration, one at a time, reporting each step. Safe to run again
 * (nothing pending: nothing done) and from several nodes at once (kysely's migration lock).
 */
export async function migrateToLatest(storage: Storage, onProgress: (p: MigrationProgress) => void = () => {}): Promise<MigrationSummary> {
  let m: Migrator;
  let infos;
  try {
    m = await migrator(storage);
    infos = await m.getMigrations();
  } catch (err) {
    throw failure(storage, err);
  }
  const pending = infos.filter((i) => i.executedAt === undefined).map((i) => i.name);
  onProgress({ kind: 'pending', total: pending.length, pending });
  const applied: string[] = [];
  for (let index = 0; index < pending.length; index++) {
    const started = performance.now();
    const { error, results } = await m.migrateUp();
    const step = results?.find((r) => r.status !== 'NotExecuted');
    if (error !== undefined || step?.status === 'Error') throw failure(storage, error, step);
    if (!step) break; // another node applied the rest meanwhile
    applied.push(step.migrationName);
    onProgress({ kind: 'applied', name: step.migrationName, index: index + 1, total: pending.length, ms: Math.round(performance.now() - started) });
  }
  return { applied, upToDate: infos.length - pending.length };
}
