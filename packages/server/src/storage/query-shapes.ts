import { type Compilable, CompiledQuery, type QueryResult } from 'kysely';

/** A kysely instance or transaction, as far as running a compiled query goes. */
interface Runs {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/** Most shapes one cache keeps (a shape per row count of a multi-row insert, for example). */
const MAX_SHAPES = 128;

/**
 * Queries of a hot path compiled once per shape: building and compiling a kysely query
 * costs more than running it on SQLite, and a path that runs the same shape thousands of
 * times a second pays that each time. The caller gives, with each run, the parameters in
 * the order the compiled SQL takes them; the first run of a shape compiles it and keeps its
 * SQL only when kysely's parameters are the same values in the same order, so a wrong
 * order is never cached (it runs compiled, correctly, every time).
 */
export class QueryShapes {
  readonly #sql = new Map<string, string>();

  run<R>(db: Runs, shape: string, params: readonly unknown[], build: () => Compilable<R>): Promise<QueryResult<R>> {
    const text = this.#sql.get(shape);
    if (text !== undefined) return db.executeQuery(CompiledQuery.raw(text, [...params]) as CompiledQuery<R>);
    const compiled = build().compile();
    const same = compiled.parameters.length === params.length && compiled.parameters.every((p, i) => p === params[i]);
    if (same && this.#sql.size < MAX_SHAPES) this.#sql.set(shape, compiled.sql);
    return db.executeQuery(compiled);
  }
}
