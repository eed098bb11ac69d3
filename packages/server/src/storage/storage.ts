import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, type SqliteDialectConfig, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { createError } from '../errors/sb-error.js';
import { preparedName } from './query-shapes.js';
import { BusyWaitSqliteDialect } from './sqlite-busy.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';
import type { SharedTables } from './tables.js';

export type StoreKind = 'sqlite' | 'postgres';

export interface StorageOptions {
  /** PostgreSQL URL (`postgres://…` / `postgresql://…`); empty for SQLite in `dataDir`. */
  database: string;
  dataDir: string;
  /** Largest number of pooled PostgreSQL connections (default 10). */
  poolSize?: number;
  /** SQLite's page cache in MiB (default 64). */
  sqliteCacheMb?: number;
}

/** The SQLite file in the data directory. */
export const SQLITE_FILE = 'switchboard.db';

const INT8_OID = 20;

/** PostgreSQL `bigint` (times, counts) read back as numbers, as SQLite gives them. */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** A URL with its password hidden, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/** SQLite's page cache (MiB) unless configured (`sqliteCacheMb`). */
export const DEFAULT_SQLITE_CACHE_MB = 64;

/**
 * A pooled PostgreSQL connection runs the SQL of a cached query shape (`QueryShapes`) as a
 * named prepared statement: parsed and planned once per connection (pg keeps track of which
 * names the connection has prepared), not on every run. Every other query runs as before.
 */
function runsPreparedShapes(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: (...args: unknown[]) => unknown }).query = (text: unknown, values?: unknown, callback?: unknown) => {
    const name = typeof text === 'string' && Array.isArray(values) ? preparedName(text) : undefined;
    if (name === undefined) return callback === undefined ? query(text, values) : query(text, values, callback);
    return callback === undefined ? query({ name, text, values }) : query({ name, text, values }, callback);
  };
}

/** Prepared statements kept per SQL text (kysely prepares every query anew otherwise). */
const STATEMENT_CACHE_SIZE = 256;

/**
 * The SQLite connection as kysely sees it, with a small LRU of prepared statements: the
 * same query shapes run over and over, and preparing them was a tenth of the write path.
 * Safe because the one connection runs one statement at a time.
 */
function withStatementCache(db: SqliteDatabase.Database): SqliteDialectConfig['database'] {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => db.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql);
      } else {
        stmt = db.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      }
      cache.set(sql, stmt);
      return stmt;
    },
  } as SqliteDialectConfig['database'];
}

/**
 * Durable data through one typed query layer (kysely) over SQLite (default: a file in the
 * data directory, WAL mode, lock waits off the event loop) or PostgreSQL (`database` URL). Features write
 * durable rows here before they publish anything about them.
 */
export class Storage {
  private constructor(
    readonly kind: StoreKind,
    readonly db: Kysely<SharedTables>,
    /** The SQLite file or the redacted PostgreSQL URL. */
    readonly location: string,
    /** SQLite: the checkpoints, run off the event loop. */
    readonly checkpointer: SqliteCheckpointer | null = null,
  ) {}

  static open(options: StorageOptions): Storage {
    const url = options.database.trim();
    if (url === '') return Storage.#openSqlite(options.dataDir, options.sqliteCacheMb ?? DEFAULT_SQLITE_CACHE_MB);
    if (!/^postgres(ql)?:\/\//.test(url))
      throw createError('SB_ERR_CONFIG_INVALID', 'database (--database / DATABASE_URL): expected a postgres:// or postgresql:// URL, or empty for SQLite');
    const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, types: pgTypes });
    // A connection that dies (database restart, network) must not crash the process: the pool
    // drops idle ones itself, and a query in flight rejects, but pg also emits 'error' on a
    // checked-out client, which nobody else listens to. The next query reconnects.
    pool.on('error', () => {});
    pool.on('connect', (client) => {
      client.on('error', () => {});
      runsPreparedShapes(client);
    });
    return new Storage('postgres', new Kysely<SharedTables>({ dialect: new PostgresDialect({ pool }) }), redactUrl(url));
  }

  static #openSqlite(dataDir: string, cacheMb: number): Storage {
    mkdirSync(dataDir, { recursive: true });
    const file = join(dataDir, SQLITE_FILE);
    let sqlite: SqliteDatabase.Database;
    try {
      sqlite = new SqliteDatabase(file);
      sqlite.pragma('journal_mode = WAL');
      // Lock waits happen in BusyWaitSqliteDialect, off the event loop, not inside SQLite.
      sqlite.pragma('busy_timeout = 0');
      sqlite.pragma('synchronous = NORMAL');
      // SQLite's default cache is 2 MB: a busy node's indexes (jobs, outbox, notifications) did
      // not fit, and every statement re-read their pages from the file (a batched webhook
      // backlog drained at 66 µs per event with it, 45–49 µs with 64 MiB).
      sqlite.pragma(`cache_size = ${-Math.round(cacheMb * 1024)}`);
    } catch (err) {
      throw createError('SB_ERR_STORAGE', `${file}: ${(err as Error).message}`);
    }
    let checkpointer: SqliteCheckpointer;
    try {
      checkpointer = new SqliteCheckpointer(sqlite, file);
    } catch (err) {
      sqlite.close();
      throw createError('SB_ERR_STORAGE', `${file}: ${(err as Error).message}`);
    }
    return new Storage(
      'sqlite',
      new Kysely<SharedTables>({ dialect: new BusyWaitSqliteDialect({ database: withStatementCache(sqlite) }) }),
      file,
      checkpointer,
    );
  }

  /** Run `fn` in one transaction: everything it writes commits together or not at all. */
  transaction<T>(fn: (trx: Transaction<SharedTables>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  /**
   * The query layer typed with a feature's own tables beside the shared ones. The tables
   * exist once the feature's migrations ran (at start, before any feature starts).
   */
  tables<T>(): Kysely<SharedTables & T> {
    return this.db as unknown as Kysely<SharedTables & T>;
  }

  /**
   * Whether the database answers: null when it does, else what is wrong (for readiness).
   * A round trip (`select 1`) bounded by `timeout`; for SQLite also that its file still exists.
   */
  async probe(timeout = 2000): Promise<string | null> {
    if (this.kind === 'sqlite' && !existsSync(this.location)) return `${this.location} is gone`;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no answer within ${timeout} ms`), timeout);
    });
    try {
      return await Promise.race([sql`select 1`.execute(this.db).then(() => null), late]);
    } catch (err) {
      return (err as Error).message.slice(0, 200) || 'query failed';
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    // The checkpointer's connection first: the node's, closing last, checkpoints what is left.
    await this.checkpointer?.stop();
    await this.db.destroy();
  }
}
