import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobOutcomes } from '../../src/storage/job-outcomes.js';
import { JobStore } from '../../src/storage/job-store.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { SHARED_MIGRATIONS } from '../../src/storage/migrations.js';
import { Storage } from '../../src/storage/storage.js';

const NOW = 1_800_000_000_000;
const logger = pino({ level: 'silent' });

describe('job outcomes written in group commits (a real SQLite file)', () => {
  let dir: string;
  let storage: Storage;
  let store: JobStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-outcomes-'));
    storage = Storage.open({ database: '', dataDir: dir });
    await migrateToLatest(storage, SHARED_MIGRATIONS);
    store = new JobStore(storage);
  });

  afterEach(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** `n` jobs inserted in one statement, then claimed by `owner`. */
  async function claimed(n: number, owner: string) {
    await store.insertMany(
      Array.from({ length: n }, (_, i) => ({ id: `job_${String(i).padStart(4, '0')}`, kind: 'k', tenant: 't', payload: { i }, dueAt: NOW, maxAttempts: 3 })),
      NOW,
    );
    return store.claim(['k'], owner, NOW, 30_000, n);
  }

  const statuses = async () =>
    Object.fromEntries((await storage.db.selectFrom('sb_jobs').select(['id', 'status', 'result']).execute()).map((r) => [r.id, [r.status, r.result]]));

  it('records every completion queued in one window, with its result, and none whose claim was lost', async () => {
    const jobs = await claimed(300, 'me');
    expect(jobs).toHaveLength(300);
    // The last job was taken over by another runner (its lease ended): my completion must not count.
    await storage.db.updateTable('sb_jobs').set({ lease_owner: 'other' }).where('id', '=', 'job_0299').execute();
    const outcomes = new JobOutcomes({ storage, store: () => store, now: () => NOW + 5, logger });
    const recorded = await Promise.all(
      jobs.map((j) => outcomes.complete({ id: j.id, owner: 'me', attempt: j.attempts }, { status: j.id === 'job_0007' ? 500 : 204 })),
    );
    expect(recorded.filter(Boolean)).toHaveLength(299);
    expect(recorded[jobs.findIndex((j) => j.id === 'job_0299')]).toBe(false);
    const after = await statuses();
    expect(after['job_0007']).toEqual(['done', '{"status":500}']);
    expect(after['job_0100']).toEqual(['done', '{"status":204}']);
    expect(after['job_0299']?.[0]).toBe('running');
  });

  it('deletes the jobs of a kind that deletesDone, fenced by the claim as an update is, beside completions kept as done', async () => {
    const jobs = await claimed(300, 'me');
    await storage.db.updateTable('sb_jobs').set({ lease_owner: 'other' }).where('id', '=', 'job_0299').execute();
    const outcomes = new JobOutcomes({ storage, store: () => store, now: () => NOW + 5, logger });
    // Every other job is of a kind that deletes its finished jobs; the rest are kept as done.
    const recorded = await Promise.all(jobs.map((j, i) => outcomes.complete({ id: j.id, owner: 'me', attempt: j.attempts }, { status: 204 }, i % 2 === 1)));
    expect(recorded.filter(Boolean)).toHaveLength(299);
    expect(recorded[299]).toBe(false);
    const after = await statuses();
    expect(after['job_0000']).toEqual(['done', '{"status":204}']);
    expect(after['job_0001']).toBeUndefined();
    expect(after['job_0298']).toEqual(['done', '{"status":204}']);
    // Its lease was lost: another runner's job, not deleted.
    expect(after['job_0299']?.[0]).toBe('running');
    expect(Object.keys(after)).toHaveLength(151);
  });

  it('finishes borrowed jobs by deleting them when asked, only those this runner still holds', async () => {
    await store.insertMany(
      Array.from({ length: 6 }, (_, i) => ({ id: `b_${i}`, kind: 'k', tenant: 't', payload: {}, dueAt: NOW, maxAttempts: 3 })),
      NOW,
    );
    const mine = await store.borrow('k', ['b_0', 'b_1', 'b_2', 'b_3'], 'me', NOW, 30_000);
    expect(mine.sort()).toEqual(['b_0', 'b_1', 'b_2', 'b_3']);
    // b_3's lease went to another runner meanwhile.
    await storage.db.updateTable('sb_jobs').set({ lease_owner: 'other' }).where('id', '=', 'b_3').execute();
    expect(await store.finishBorrowed(mine, 'me', { ok: true }, NOW + 5, undefined, true)).toBe(3);
    const after = await statuses();
    expect(Object.keys(after).sort()).toEqual(['b_3', 'b_4', 'b_5']);
    expect(after['b_3']?.[0]).toBe('running');
    expect(after['b_4']?.[0]).toBe('pending');
    // A second finish finds nothing of its own left.
    expect(await store.finishBorrowed(mine, 'me', { ok: true }, NOW + 6, undefined, true)).toBe(0);
  });

  it('a write that fails does not sink the completions and writes queued with it', async () => {
    const jobs = await claimed(3, 'me');
    const outcomes = new JobOutcomes({ storage, store: () => store, now: () => NOW + 5, logger });
    const good = outcomes.write((trx) =>
      trx
        .updateTable('sb_jobs')
        .set({ last_error: 'noted' })
        .where('id', '=', 'job_0000')
        .execute()
        .then(() => {}),
    );
    const bad = outcomes.write((trx) =>
      trx
        .insertInto('sb_no_such_table')
        .values({ a: 1 })
        .execute()
        .then(() => {}),
    );
    const done = jobs.map((j) => outcomes.complete({ id: j.id, owner: 'me', attempt: j.attempts }, null));
    await expect(good).resolves.toBeUndefined();
    await expect(bad).rejects.toThrow();
    expect(await Promise.all(done)).toEqual([true, true, true]);
    const row = await storage.db.selectFrom('sb_jobs').select(['status', 'last_error']).where('id', '=', 'job_0000').executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'done', last_error: 'noted' });
  });

  it('flush writes what is queued without waiting for the window', async () => {
    const [job] = await claimed(1, 'me');
    const outcomes = new JobOutcomes({ storage, store: () => store, now: () => NOW + 5, logger });
    const done = outcomes.complete({ id: job?.id as string, owner: 'me', attempt: 1 }, 'ok');
    await outcomes.flush();
    expect((await statuses())['job_0000']).toEqual(['done', '"ok"']);
    await expect(done).resolves.toBe(true);
  });
});
