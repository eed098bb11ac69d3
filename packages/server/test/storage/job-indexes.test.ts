import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Compilable, CompiledQuery, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, STORES, type TestDatabase } from '../../../../test/durable/helpers.js';
import { JobStore, jobFinished, jobIs } from '../../src/storage/job-store.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { SHARED_MIGRATIONS } from '../../src/storage/migrations.js';
import { Storage } from '../../src/storage/storage.js';

const NOW = 1_800_000_000_000;

/**
 * The job indexes are partial (migration 0008): each holds the jobs of one state, so a write of a
 * job touches fewer indexes. A statement uses one only when its WHERE names the index's condition
 * with the same literal (a prepared statement's generic plan on PostgreSQL knows no parameter's
 * value); these are the statements' shapes as JobStore and the webhooks store write
 * them, planned on a table of jobs in every state.
 */
describe.each(STORES)('partial job indexes (%s)', (store) => {
  let db: TestDatabase;
  let dir: string;
  let storage: Storage;
  let jobs: JobStore;

  beforeEach(async () => {
    db = await createTestDatabase(store);
    dir = mkdtempSync(join(tmpdir(), 'sb-job-indexes-'));
    storage = Storage.open({ database: db.database, dataDir: dir, poolSize: 1 });
    await migrateToLatest(storage, SHARED_MIGRATIONS);
    jobs = new JobStore(storage);
  });

  afterEach(async () => {
    await storage.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The plan of `query` as text (PostgreSQL told to avoid sequential scans, as on a large table). */
  async function plan(query: Compilable<unknown>): Promise<string> {
    const c = query.compile();
    if (store === 'sqlite') {
      const r = await storage.db.executeQuery(CompiledQuery.raw(`explain query plan ${c.sql}`, [...c.parameters]));
      return r.rows.map((row) => (row as { detail: string }).detail).join('\n');
    }
    return storage.db.transaction().execute(async (trx) => {
      await sql`set local enable_seqscan = off`.execute(trx);
      const r = await trx.executeQuery(CompiledQuery.raw(`explain ${c.sql}`, [...c.parameters]));
      return r.rows.map((row) => (row as { 'QUERY PLAN': string })['QUERY PLAN']).join('\n');
    });
  }

  it('plans each hot statement along the partial index of its state', async () => {
    await jobs.insertMany(
      Array.from({ length: 40 }, (_, i) => ({
        id: `job_${i}`,
        kind: i % 2 ? 'webhooks.deliver' : 'k',
        tenant: 't',
        payload: {},
        dueAt: NOW - i,
        maxAttempts: 3,
        ...(i % 2 ? { queue: `whe_${i % 3}` } : {}),
      })),
      NOW,
    );
    await jobs.claim(['k'], 'node', NOW, 30_000, 5);
    const q = storage.db.selectFrom('sb_jobs').select('id');
    expect(await plan(q.where(jobIs('pending')).where('due_at', '<=', NOW).where('kind', 'in', ['k']).orderBy('due_at').limit(10))).toMatch(/sb_jobs_pending/);
    expect(await plan(q.where(jobIs('running')).where('lease_expires', '<=', NOW).where('kind', 'in', ['k']).limit(10))).toMatch(/sb_jobs_running/);
    expect(
      await plan(
        q.where('queue', '=', 'whe_1').where(jobIs('pending')).where('due_at', '<=', NOW).where('kind', '=', 'webhooks.deliver').orderBy('due_at').limit(10),
      ),
    ).toMatch(/sb_jobs_queue_pending/);
    expect(await plan(q.where(jobFinished()).where('updated_at', '<', NOW))).toMatch(/sb_jobs_finished/);
    expect(await plan(q.where('kind', '=', 'k').where('tenant', '=', 't').where('queue', 'is', null).orderBy('due_at').orderBy('id').limit(10))).toMatch(
      /sb_jobs_unqueued/,
    );
    // An alias, as the webhooks store names the table.
    const j = storage.db.selectFrom('sb_jobs as j').select('j.id');
    expect(await plan(j.where('j.queue', '=', 'whe_1').where(jobIs('pending', 'j.status')))).toMatch(/sb_jobs_queue_pending/);
  });

  it('keeps the jobs of a queue out of the per-kind lists and caps', async () => {
    await jobs.insertMany(
      [
        { id: 'a', kind: 'k', tenant: 't', payload: {}, dueAt: NOW, maxAttempts: 3 },
        { id: 'b', kind: 'k', tenant: 't', payload: {}, dueAt: NOW + 1, maxAttempts: 3, queue: 'q' },
      ],
      NOW,
    );
    expect((await jobs.list('k', 't', { limit: 10 })).map((x) => x.id)).toEqual(['a']);
    expect(await jobs.insert({ id: 'c', kind: 'k', tenant: 't', payload: {}, dueAt: NOW, maxAttempts: 3 }, NOW, 1)).toBe('full');
    await expect(jobs.insert({ id: 'd', kind: 'k', tenant: 't', payload: {}, dueAt: NOW, maxAttempts: 3, queue: 'q' }, NOW, 5)).rejects.toThrow(
      /capped job has no queue/,
    );
  });
});
