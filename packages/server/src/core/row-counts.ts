/** Durable rows a tenant may have a quota on; the feature that stores them counts them. */
export type RowKind = 'notifications' | 'activity';

/** A count is asked of the database again when older than this (ms); meanwhile inserts add to it. */
const FRESH_MS = 10_000;

interface Count {
  rows: number;
  /** When the database last counted them (node clock, ms). */
  at: number;
}

/**
 * Rows per tenant and kind, for their quotas: a COUNT from the database at most every
 * 10 s per tenant, plus what this node reserved since. Across nodes the count is exact
 * only as of each node's last COUNT, so a tenant writing on several nodes at once may
 * pass its quota by what the others wrote within those seconds.
 */
export class RowCounts {
  readonly #counters = new Map<RowKind, (tenant: string) => Promise<number>>();
  readonly #counts = new Map<string, Count>();
  readonly #loading = new Map<string, Promise<number>>();

  constructor(private readonly now: () => number) {}

  register(kind: RowKind, count: (tenant: string) => Promise<number>): void {
    this.#counters.set(kind, count);
  }

  /** The tenant's rows of a kind, counted again when stale; null when no feature counts them. */
  async used(tenant: string, kind: RowKind): Promise<number | null> {
    const count = this.#counters.get(kind);
    if (!count) return null;
    const key = `${kind}|${tenant}`;
    const known = this.#counts.get(key);
    if (known && this.now() - known.at < FRESH_MS) return known.rows;
    let loading = this.#loading.get(key);
    if (!loading) {
      loading = count(tenant)
        .then((rows) => {
          this.#counts.set(key, { rows, at: this.now() });
          return rows;
        })
        .finally(() => this.#loading.delete(key));
      this.#loading.set(key, loading);
    }
    return loading;
  }

  /** Add `rows` when they fit under `limit` (counting from `used` if nothing is known); false when they do not. */
  reserve(tenant: string, kind: RowKind, rows: number, limit: number, used: number | null): boolean {
    const key = `${kind}|${tenant}`;
    const known = this.#counts.get(key) ?? { rows: used ?? 0, at: this.now() };
    if (known.rows + rows > limit) return false;
    this.#counts.set(key, { rows: known.rows + rows, at: known.at });
    return true;
  }

  adjust(tenant: string, kind: RowKind, delta: number): void {
    const known = this.#counts.get(`${kind}|${tenant}`);
    if (known) known.rows = Math.max(0, known.rows + delta);
  }

  /** Count a tenant's rows afresh next time (its quotas changed). */
  forget(tenant: string): void {
    for (const kind of this.#counters.keys()) this.#counts.delete(`${kind}|${tenant}`);
  }
}
