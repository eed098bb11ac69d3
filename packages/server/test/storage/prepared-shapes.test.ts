import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../test/durable/helpers.js';
import { JobStore } from '../../src/storage/job-store.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { SHARED_MIGRATIONS } from '../../src/storage/migrations.js';
import { Storage } from '../../src/storage/storage.js';

const NOW = 1_800_000_000_000;

const jobs = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `job_${String(from + i).padStart(4, '0')}`,
    kind: 'k',
    tenant: 't',
    payload: { i: from + i },
    dueAt: NOW - 100 + from + i,
    maxAttempts: 3,
  }));

describe('cached query shapes run as PostgreSQL prepared statements (the real PostgreSQL)', () => {
  let db: TestDatabase;
  let dir: string;
  let storage: Storage;
  let store: JobStore;

  beforeEach(async () => {
    db = await createTestDatabase('postgres');
    dir = mkdtempSync(join(tmpdir(), 'sb-prepared-'));
    // One pooled connection: every statement below runs on the session whose prepared statements are read.
    storage = Storage.open({ database: db.database, dataDir: dir, poolSize: 1 });
    await migrateToLatest(storage, SHARED_MIGRATIONS);
    store = new JobStore(storage);
  });

  afterEach(async () => {
    await storage.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const preparedStatements = async () =>
    (await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(storage.db)).rows;

  it('prepares the hot shapes once per connection, never one that says *, and returns the same rows as before', async () => {
    await store.insertMany(jobs(0, 4), NOW);
    const first = await store.claim(['k'], 'node-a', NOW, 30_000, 2);
    await store.insertMany(jobs(4, 4), NOW);
    const second = await store.claim(['k'], 'node-a', NOW, 30_000, 2);
    expect(first.map((j) => j.id).sort()).toEqual(['job_0000', 'job_0001']);
    expect(second.map((j) => j.id).sort()).toEqual(['job_0002', 'job_0003']);
    expect(second[0]).toMatchObject({ kind: 'k', tenant: 't', payload: { i: 2 }, status: 'running', attempts: 1, maxAttempts: 3 });

    // A query that is not a cached shape, and one with a `*`: unnamed, as kysely runs them.
    expect((await store.get('k', 't', 'job_0004'))?.status).toBe('pending');

    const statements = await preparedStatements();
    const ours = statements.filter((s) => /^sb_[0-9a-f]{32}$/.test(s.name));
    expect(ours.some((s) => s.statement.startsWith('insert into "sb_jobs"'))).toBe(true);
    expect(ours.some((s) => s.statement.startsWith('update "sb_jobs" set "status"') && s.statement.includes('"lease_expires" <= ') === false)).toBe(true);
    // Prepared once: the second insert and the second claim reused the first ones' statements.
    expect(new Set(ours.map((s) => s.statement)).size).toBe(ours.length);
    expect(ours.length).toBeGreaterThanOrEqual(2);
    expect(statements.filter((s) => s.statement.includes('*'))).toEqual([]);
  });

  it('keeps working when a migration adds a column while the connection holds prepared statements (a rolling upgrade)', async () => {
    await store.insertMany(jobs(0, 2), NOW);
    expect((await store.claim(['k'], 'node-a', NOW, 30_000, 1)).map((j) => j.id)).toEqual(['job_0000']);
    expect((await preparedStatements()).length).toBeGreaterThanOrEqual(2);

    // Another node's migration, on another connection.
    const other = Storage.open({ database: db.database, dataDir: dir });
    await sql`alter table sb_jobs add column added_later text`.execute(other.db);
    await other.close();

    await store.insertMany(jobs(2, 2), NOW);
    const claimed = await store.claim(['k'], 'node-a', NOW, 30_000, 3);
    expect(claimed.map((j) => j.id).sort()).toEqual(['job_0001', 'job_0002', 'job_0003']);
    expect(claimed.every((j) => j.status === 'running' && j.attempts === 1)).toBe(true);
  });
});
