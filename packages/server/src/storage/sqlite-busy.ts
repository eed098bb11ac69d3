import { CompiledQuery, type DatabaseConnection, type Driver, type QueryResult, SqliteDialect, type SqliteDialectConfig, SqliteDriver } from 'kysely';

/** How long a statement or a transaction's start waits for another process's write lock (ms). */
export const SQLITE_BUSY_WAIT_MS = 5000;
/** The longest pause between two tries (ms). */
const MAX_PAUSE_MS = 50;

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The one SQLite connection, waiting for a lock held by another process without blocking
 * the event loop: better-sqlite3 runs synchronously, so SQLite's own `busy_timeout` would
 * stop every socket of the node for as long as the other writer holds the lock. Here the
 * connection runs with `busy_timeout = 0`, and a statement refused with SQLITE_BUSY outside a
 * transaction (it did nothing) is tried again after a pause, for up to `waitMs`. A
 * transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock at its start (tried
 * again the same way) and never meets a busy lock halfway through.
 */
class BusyWaitConnection implements DatabaseConnection {
  #inTransaction = false;
  constructor(
    readonly inner: DatabaseConnection,
    readonly waitMs: number,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.#inTransaction) return this.inner.executeQuery<R>(query);
    const deadline = Date.now() + this.waitMs;
    for (let tries = 0; ; tries++) {
      try {
        return await this.inner.executeQuery<R>(query);
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline) throw err;
        await pause(Math.min(MAX_PAUSE_MS, 2 ** tries, Math.max(1, deadline - Date.now())));
      }
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }

  async begin(): Promise<void> {
    await this.executeQuery(CompiledQuery.raw('begin immediate'));
    this.#inTransaction = true;
  }

  async end(statement: 'commit' | 'rollback'): Promise<void> {
    try {
      await this.inner.executeQuery(CompiledQuery.raw(statement));
    } finally {
      this.#inTransaction = false;
    }
  }
}

class BusyWaitDriver extends SqliteDriver {
  #connection: BusyWaitConnection | undefined;
  constructor(
    config: SqliteDialectConfig,
    readonly waitMs: number,
  ) {
    super(config);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await super.acquireConnection();
    if (this.#connection?.inner !== inner) this.#connection = new BusyWaitConnection(inner, this.waitMs);
    return this.#connection;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as BusyWaitConnection).begin();
  }

  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as BusyWaitConnection).end('commit');
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as BusyWaitConnection).end('rollback');
  }
}

/** kysely's SQLite dialect with lock waits that leave the event loop free (see BusyWaitConnection). */
export class BusyWaitSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(
    config: SqliteDialectConfig,
    readonly waitMs = SQLITE_BUSY_WAIT_MS,
  ) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new BusyWaitDriver(this.#config, this.waitMs);
  }
}
