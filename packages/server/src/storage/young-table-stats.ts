import { sql } from 'kysely';
import type { Storage } from './storage.js';

/** Rows this process inserts before it first has the table analyzed. */
const FIRST_ANALYZE = 1000;
/** After that, each analyze waits for this many times as many rows as the one before. */
const GROWTH = 4;
/** Beyond this many rows inserted by this process, PostgreSQL's autovacuum alone keeps the statistics. */
const LAST_ANALYZE = 1_000_000;

/**
 * PostgreSQL plans from a table's statistics, and a young table has none until autovacuum
 * gets to it (a minute or more after it fills). A queue table planned as if it held a handful
 * of rows is read whole: the job claim read and sorted every pending job (2.7 ms a claim
 * under a backlog of a few thousand, most of the database's CPU in the webhooks benchmark),
 * and a batch's top-up walked every message of its endpoint. So the process that fills such
 * a table has it analyzed after its first 1,000 inserts, then after 4,000 more, 16,000 more,
 * and so on up to a million, off the caller's path. A failure (a role that may not analyze)
 * stops it; autovacuum's own analyzes go on regardless. Nothing on SQLite.
 */
export class YoungTableStats {
  readonly #storage: Storage;
  readonly #table: string;
  #inserted = 0;
  #after = FIRST_ANALYZE;
  #running = false;

  constructor(storage: Storage, table: string) {
    if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`not a table name: ${table}`);
    this.#storage = storage;
    this.#table = table;
    if (storage.kind !== 'postgres') this.#after = Number.POSITIVE_INFINITY;
  }

  /**
   * Rows were inserted (committed or about to be): analyze when enough have been. Callers do
   * not wait; the analyze it starts, if any, is returned (it never rejects).
   */
  grew(rows: number): Promise<void> | undefined {
    if (this.#after > LAST_ANALYZE) return undefined;
    this.#inserted += rows;
    if (this.#inserted < this.#after || this.#running) return undefined;
    this.#inserted = 0;
    this.#after *= GROWTH;
    this.#running = true;
    return sql`analyze ${sql.table(this.#table)}`.execute(this.#storage.db).then(
      () => {
        this.#running = false;
      },
      () => {
        this.#after = Number.POSITIVE_INFINITY;
        this.#running = false;
      },
    );
  }
}
