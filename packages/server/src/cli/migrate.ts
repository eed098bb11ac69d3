import { builtinMigrations, loadConfig } from '../features/builtin.js';
import { migrateToLatest } from '../storage/migrate.js';
import { Storage } from '../storage/storage.js';
import { flag, type ParsedArgs } from './args.js';

export const MIGRATE_HELP = `Usage: switchboard migrate [--database <postgres URL>] [--data ./data] [--config file.json]

Applies the pending database migrations, one at a time, and prints each step. The server
applies them at start as well; running this first (or twice) is safe. Without --database
(or DATABASE_URL / SWITCHBOARD_DATABASE) the SQLite file <data>/switchboard.db is migrated.
`;

export async function migrate(args: ParsedArgs, out: (text: string) => void): Promise<void> {
  const flags = new Map(args.flags.filter(([k]) => k !== '--config'));
  const file = flag(args, '--config');
  const config = loadConfig({ ...(file ? { file } : {}), flags });
  const storage = Storage.open({ database: config.database, dataDir: config.dataDir, poolSize: 1, sqliteCacheMb: config.sqliteCacheMb });
  try {
    out(`Migrating ${storage.kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'} database ${storage.location}`);
    const summary = await migrateToLatest(storage, builtinMigrations(), (p) => {
      if (p.kind === 'pending') out(p.total === 0 ? '  no pending migrations' : `  ${p.total} pending: ${p.pending.join(', ')}`);
      else out(`  [${p.index}/${p.total}] ${p.name} ... done (${p.ms} ms)`);
    });
    out(`Database up to date: ${summary.upToDate + summary.applied.length} migrations applied (${summary.applied.length} now).`);
  } finally {
    await storage.close();
  }
}
