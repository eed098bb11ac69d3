import { type Storage, YoungTableStats } from '@switchboard/server/testing';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestStorage, type TestDatabase } from './helpers.js';

/** pg_class.reltuples: -1 until the table is first analyzed (or vacuumed), then its row estimate. */
async function reltuples(storage: Storage, table: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`select reltuples::float8 as n from pg_class where oid = ${table}::regclass`.execute(storage.db);
  return Number(rows[0]?.n);
}

describe('statistics of a young table (PostgreSQL)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function freshTable(): Promise<{ storage: Storage; db: TestDatabase }> {
    const { storage, db, close } = await openTestStorage('postgres');
    cleanups.push(close);
    // Autovacuum off for this table: only the helper may analyze it during the test.
    await sql`create table queue (id serial primary key, status text not null) with (autovacuum_enabled = false)`.execute(storage.db);
    return { storage, db };
  }

  const insert = (storage: Storage, n: number) => sql`insert into queue (status) select 'pending' from generate_series(1, ${n}::int)`.execute(storage.db);

  it('analyzes after the first 1,000 rows, not before, then after 4,000 more', async () => {
    const { storage } = await freshTable();
    const stats = new YoungTableStats(storage, 'queue');
    await insert(storage, 999);
    expect(stats.grew(999)).toBeUndefined();
    expect(await reltuples(storage, 'queue')).toBe(-1);

    await insert(storage, 1);
    await stats.grew(1);
    expect(await reltuples(storage, 'queue')).toBe(1000);

    // The next one waits for 4,000 more rows.
    await insert(storage, 3000);
    expect(stats.grew(3000)).toBeUndefined();
    expect(await reltuples(storage, 'queue')).toBe(1000);
    await insert(storage, 1000);
    await stats.grew(1000);
    expect(await reltuples(storage, 'queue')).toBe(5000);
  });

  it('stops quietly when the table cannot be analyzed, and refuses a name that is not a plain identifier', async () => {
    const { storage } = await freshTable();
    const stats = new YoungTableStats(storage, 'no_such_table');
    // The analyze fails (no such table): no throw, no unhandled rejection, and no retry storm.
    await stats.grew(5000);
    expect(stats.grew(5000)).toBeUndefined();
    expect(() => new YoungTableStats(storage, 'queue; drop table queue')).toThrow(/not a table name/);
    expect(await reltuples(storage, 'queue')).toBe(-1);
  });
});
