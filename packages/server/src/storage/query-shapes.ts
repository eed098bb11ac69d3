import { createHash } from 'node:crypto';
import { type Compilable, CompiledQuery, type QueryResult } from 'kysely';

/** A kysely instance or transaction, as far as running a compiled query goes. */
interface Runs {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/** Most shapes one cache keeps (a shape per row count of a multi-row insert, for example). */
const MAX_SHAPES = 128;

/** Most SQL texts kept as PostgreSQL prepared statements (over every cache of the process). */
const MAX_PREPARED = 1024;

/** Name of the PostgreSQL prepared statement of each cached shape's SQL text. */
const prepared = new Map<string, string>();

/**
 * The prepared-statement name of a cached shape's SQL text, or undefined (run it unnamed).
 * PostgreSQL parses and plans an unnamed statement on every run; for the hot shapes that was
 * a fifth to a third of their time in the database. A text with a `*` (`select *`,
 * `returning *`) is never prepared: a migration that adds a column while a node runs (a
 * rolling upgrade) would make its cached plan fail ("cached plan must not change result type").
 */
export function preparedName(text: string): string | undefined {
  return prepared.get(text);
}

function prepare(text: string): void {
  if (prepared.has(text) || prepared.size >= MAX_PREPARED || text.includes('*')) return;
  prepared.set(text, `sb_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`);
}

/**
 * Queries of a hot path compiled once per shape: building and compiling a kysely query
 * costs more than running it on SQLite, and a path that runs the same shape thousands of
 * times a second pays that each time. The caller gives, with each run, the parameters in
 * the order the compiled SQL takes them; the first run of a shape compiles it and keeps its
 * SQL only when kysely's parameters are the same values in the same order, so a wrong
 * order is never cached (it runs compiled, correctly, every time). On PostgreSQL a cached
 * shape runs as a named prepared statement (`preparedName`).
 */
export class QueryShapes {
  readonly #sql = new Map<string, string>();

  run<R>(db: Runs, shape: string, params: readonly unknown[], build: () => Compilable<R>): Promise<QueryResult<R>> {
    const text = this.#sql.get(shape);
    if (text !== undefined) return db.executeQuery(CompiledQuery.raw(text, [...params]) as CompiledQuery<R>);
    const compiled = build().compile();
    const same = compiled.parameters.length === params.length && compiled.parameters.every((p, i) => p === params[i]);
    if (same && this.#sql.size < MAX_SHAPES) {
      this.#sql.set(shape, compiled.sql);
      prepare(compiled.sql);
    }
    return db.executeQuery(compiled);
  }
}
