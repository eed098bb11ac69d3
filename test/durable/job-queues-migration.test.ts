import { builtinMigrations, migrateToLatest } from '@switchboard/server/testing';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestStorage, STORES } from './helpers.js';

const NEW = ['0007_job_queues', 'webhooks_0004_job_queues'];
/** The migrations of later releases (not this test's subject). */
const LATER = ['0008_job_partial_indexes'];

describe.each(STORES)('job queues migration (%s)', (store) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('gives each unfinished delivery its endpoint as its queue, and nothing else one', async () => {
    const { storage, close } = await openTestStorage(store);
    cleanups.push(close);
    const all = builtinMigrations().filter((m) => !LATER.includes(m.name));
    // The database as the release before this one left it.
    await migrateToLatest(
      storage,
      all.filter((m) => !NEW.includes(m.name)),
    );
    const job = (id: string, kind: string, status: string) =>
      sql`insert into sb_jobs (id, kind, tenant, payload, status, due_at, attempts, max_attempts, created_at, updated_at)
          values (${id}, ${kind}, 'acme', '{}', ${status}, 1000, 0, 10, 1000, 1000)`.execute(storage.db);
    const message = (id: string, endpoint: string) =>
      sql`insert into sb_webhook_messages (id, tenant, endpoint_id, event_id, created_at) values (${id}, 'acme', ${endpoint}, ${`evt_${id}`}, 1000)`.execute(
        storage.db,
      );
    for (const [id, endpoint, status] of [
      ['msg_a', 'whe_one', 'pending'],
      ['msg_b', 'whe_one', 'running'],
      ['msg_c', 'whe_two', 'pending'],
      ['msg_d', 'whe_two', 'done'],
      ['msg_e', 'whe_two', 'failed'],
    ] as const) {
      await message(id, endpoint);
      await job(id, 'webhooks.deliver', status);
    }
    await job('job_other', 'notifications.digest', 'pending');

    const summary = await migrateToLatest(storage, all);
    expect(summary.applied).toEqual(NEW);
    const { rows } = await sql<{ id: string; queue: string | null }>`select id, queue from sb_jobs order by id`.execute(storage.db);
    expect(rows).toEqual([
      { id: 'job_other', queue: null },
      { id: 'msg_a', queue: 'whe_one' },
      { id: 'msg_b', queue: 'whe_one' },
      { id: 'msg_c', queue: 'whe_two' },
      { id: 'msg_d', queue: null },
      { id: 'msg_e', queue: null },
    ]);
  });
});
