import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlertStore, builtinMigrations, migrateToLatest, Storage } from '@switchboard/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, STORES, type TestDatabase } from '../../durable/helpers.js';

/**
 * The stored state of alert rules on both stores: every write is a compare-and-set on the
 * row version, so of two evaluators (two nodes) that read the same state only one stores
 * its transition; a pending transition stays until it is marked announced.
 */

const state = (s: string, seq: number, evaluatedAt: number) => ({
  state: s as 'ok' | 'warning' | 'critical' | 'resolved',
  since: seq === 0 ? null : evaluatedAt,
  value: 250.5,
  evaluatedAt,
  warningSince: 1000,
  criticalSince: null,
  seq,
});

describe.each(STORES)('alert state storage on %s', (store) => {
  let db: TestDatabase;
  let dir: string;
  let storage: Storage;
  let a: AlertStore;
  let b: AlertStore;

  beforeAll(async () => {
    db = await createTestDatabase(store);
    dir = mkdtempSync(join(tmpdir(), 'sb-alert-store-'));
    storage = Storage.open({ database: db.database, dataDir: dir });
    await migrateToLatest(storage, builtinMigrations());
    // Two nodes: two stores over one database.
    a = new AlertStore(storage, () => 1);
    b = new AlertStore(storage, () => 2);
  });
  afterAll(async () => {
    await storage?.db.destroy();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the initial state (version 0) of a rule never stored', async () => {
    expect(await a.get('acme', 'r1')).toEqual({
      state: { state: 'ok', since: null, value: null, evaluatedAt: null, warningSince: null, criticalSince: null, seq: 0 },
      version: 0,
      pending: null,
    });
  });

  it('lets one of two writers of the same version win, the first write and every later one', async () => {
    const t1 = { seq: 1, from: 'ok' as const, to: 'warning' as const, at: 4000, value: 250.5, threshold: 200 };
    const [wa, wb] = await Promise.all([a.put('acme', 'r1', 0, state('warning', 1, 4000), t1), b.put('acme', 'r1', 0, state('warning', 1, 4000), t1)]);
    expect([wa, wb].filter(Boolean)).toHaveLength(1);
    const stored = await b.get('acme', 'r1');
    expect(stored).toEqual({ state: state('warning', 1, 4000), version: 1, pending: t1 });

    await a.announced('acme', 'r1', 1);
    const announced = await a.get('acme', 'r1');
    expect(announced.pending).toBeNull();
    expect(announced.version).toBe(2);
    // A writer still holding version 1 has lost: it must read again.
    expect(await b.put('acme', 'r1', 1, state('critical', 2, 5000), null)).toBe(false);
    const [xa, xb] = await Promise.all([a.put('acme', 'r1', 2, state('warning', 1, 5000), null), b.put('acme', 'r1', 2, state('warning', 1, 5000), null)]);
    expect([xa, xb].filter(Boolean)).toHaveLength(1);
    expect((await a.get('acme', 'r1')).version).toBe(3);
  });

  it('keeps tenants and rules apart', async () => {
    expect(await a.put('other', 'r1', 0, state('critical', 1, 9000), null)).toBe(true);
    expect((await a.get('acme', 'r1')).state.state).toBe('warning');
    expect([...(await a.list('other')).keys()]).toEqual(['r1']);
    expect((await a.list('other')).get('r1')?.state).toEqual(state('critical', 1, 9000));
    expect((await a.list('demo')).size).toBe(0);
  });
});
