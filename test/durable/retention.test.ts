import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { createTestDatabase, type DurableServer, STORES, type StoreName, startDurableServer, type TestDatabase } from './helpers.js';

/**
 * Retention on SQLite and PostgreSQL: notifications and activities older than the
 * configured days are deleted by the sweep at start and by the periodic sweep.
 */

/** Poll a condition (a real sweep runs on a timer); fails after `timeout` ms. */
const until = (test: () => Promise<boolean>, timeout = 5000): Promise<void> => eventually(test, timeout, 'the retention sweep');

describe.each(STORES)('retention on %s', (store: StoreName) => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function server(db: TestDatabase, dataDir: string, config: Record<string, unknown>): Promise<DurableServer> {
    const s = await startDurableServer(store, { keepDataDir: dataDir, ...config }, db);
    cleanup.push(() => s.stop());
    return s;
  }

  const admin = (s: DurableServer) => ({ key: s.apiKey, tenant: 'acme' });
  const counts = async (s: DurableServer) => {
    const n = await s.api('GET', '/notifications?user=old', admin(s));
    const a = await s.api('GET', '/activities?scope=project:1', admin(s));
    return [(n.body['notifications'] as unknown[]).length, (a.body['activities'] as unknown[]).length];
  };

  it('keeps data within the retention period and deletes it at start once it is older', async () => {
    const db = await createTestDatabase(store);
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-retention-'));
    cleanup.push(
      () => db.drop(),
      () => rmSync(dataDir, { recursive: true, force: true }),
    );

    const first = await server(db, dataDir, {});
    await first.api('POST', '/notifications', { ...admin(first), body: { user: 'old', type: 'system', title: 'kept a while' } });
    await first.api('POST', '/activities', { ...admin(first), body: { scope: 'project:1', actor: 'old', verb: 'did', time: Date.now() - 2 * 86_400_000 } });
    expect(await counts(first)).toEqual([1, 1]);
    await cleanup.pop()?.();

    // One day of retention: the notification (now) stays, the activity (two days ago) goes.
    const second = await server(db, dataDir, { notifications: { retentionDays: 1 }, activity: { retentionDays: 1 } });
    expect(await counts(second)).toEqual([1, 0]);
    await cleanup.pop()?.();

    const third = await server(db, dataDir, { notifications: { retentionDays: 0 }, activity: { retentionDays: 0 } });
    expect(await counts(third)).toEqual([0, 0]);
  });

  it('the periodic sweep deletes what has become older than the retention period', async () => {
    const db = await createTestDatabase(store);
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-retention-'));
    cleanup.push(
      () => db.drop(),
      () => rmSync(dataDir, { recursive: true, force: true }),
    );
    const s = await server(db, dataDir, { notifications: { retentionDays: 0, sweepInterval: '50ms' }, activity: { retentionDays: 0, sweepInterval: '50ms' } });
    const created = await s.api('POST', '/notifications', { ...admin(s), body: { user: 'old', type: 'system', title: 'short-lived' } });
    expect(created.status).toBe(201);
    await s.api('POST', '/activities', { ...admin(s), body: { scope: 'project:1', actor: 'old', verb: 'did' } });
    await until(async () => (await counts(s)).every((n) => n === 0));
  });
});
