import { type Storage, YoungTableStats } from '@switchboard/server/testing';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestStorage, type TestDatabase } from './helpers.js';

/** pg_class.reltuples: -1 until the table is first analyzed (or vacuumed), then its row estimate. */
async function reltuples(storage: Storage, table: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`select reltuples::float8 as n from pg_class where oid = ${table}::regclass`.execute(storage.db);
  return Number(rows[0]?.n);
}

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
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
    stats.grew(999);
    // Give a wrongly started analyze the time to land before looking.
    await new Promise((r) => setTimeout(r, 300));
    expect(await reltuples(storage, 'queue')).toBe(-1);

    await insert(storage, 1);
    stats.grew(1);
    expect(await until(async () => (await reltuples(storage, 'queue')) === 1000, 10_000)).toBe(true);

    // The next one waits for 4,000 more rows.
    await insert(storage, 3000);
    stats.grew(3000);
    await new Promise((r) => setTimeout(r, 300));
    expect(await reltuples(storage, 'queue')).toBe(1000);
    await insert(storage, 1000);
    stats.grew(1000);
    expect(await until(async () => (await reltuples(storage, 'queue')) === 5000, 10_000)).toBe(true);
  });

  it('stops quietly when the table cannot be analyzed, and refuses a name that is not a plain identifier', async () => {
    const { storage } = await freshTable();
    const stats = new YoungTableStats(storage, 'no_such_table');
    // The analyze fails (no such table): no throw, no unhandled rejection, and no retry storm.
    stats.grew(5000);
    stats.grew(5000);
    await new Promise((r) => setTimeout(r, 200));
    expect(() => new YoungTableStats(storage, 'queue; drop table queue')).toThrow(/not a table name/);
    expect(await reltuples(storage, 'queue')).toBe(-1);
  });
});
