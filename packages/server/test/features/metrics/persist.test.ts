import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { metricsConfig } from '../../../src/features/metrics/config.js';
import { MetricStores } from '../../../src/features/metrics/metric-stores.js';
import { METRIC_MIGRATIONS } from '../../../src/features/metrics/migrations.js';
import { MINUTE, PersistedMinutes } from '../../../src/features/metrics/persist.js';
import { migrateToLatest } from '../../../src/storage/migrate.js';
import { Storage } from '../../../src/storage/storage.js';

const T0 = 29_166_666 * MINUTE; // a whole minute, in 2025

/**
 * When stored minutes are encoded and written, on a real SQLite file: closed minutes at most a
 * budget a call, minutes about to leave memory always; a minute whose ring slot a new minute
 * takes is encoded before the point goes in; a failed write keeps its rows for the next one.
 */
describe('persisted minutes', () => {
  const dirs: string[] = [];
  const storages: Storage[] = [];
  afterEach(async () => {
    for (const s of storages.splice(0)) await s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function setup(series: Record<string, unknown> = { lat: { kind: 'distribution', labels: ['k'], persist: true } }) {
    const dir = mkdtempSync(join(tmpdir(), 'sb-persist-'));
    dirs.push(dir);
    const storage = Storage.open({ database: '', dataDir: dir });
    storages.push(storage);
    await migrateToLatest(storage, METRIC_MIGRATIONS);
    const clock = { t: T0 + 30_000, now: () => clock.t };
    const config = metricsConfig.parse({ series });
    const persisted = new PersistedMinutes(
      storage,
      clock,
      'node/1',
      () => ({ lateness: config.lateness, retention: config.persistRetention }),
      pino({ level: 'silent' }),
    );
    const stores = new MetricStores(config, clock, { persisted: (key, held, ts) => persisted.touched(key, held, ts) });
    const rows = async () =>
      (
        await sql<{ labels: string; minute: number; count: number }>`select labels, minute, count from sb_metric_minutes order by labels, minute`.execute(
          storage.db,
        )
      ).rows.map((r) => ({ labels: r.labels, minute: Number(r.minute), count: Number(r.count) }));
    return { storage, clock, persisted, stores, rows };
  }

  it('encodes at most the budget of closed minutes a call, and every minute about to leave memory at once', async () => {
    const { clock, persisted, stores, rows } = await setup();
    for (let k = 0; k < 5; k++) stores.write('acme', [{ series: 'lat', labels: { k: `${k}` }, ts: T0 + 1000, value: k }]);
    expect(persisted.collect(false, 2)).toBe(0); // still open
    clock.t = T0 + MINUTE + 10_000;
    expect([persisted.collect(false, 2), persisted.collect(false, 2), persisted.collect(false, 2), persisted.collect(false, 2)]).toEqual([2, 2, 1, 0]);
    expect(await persisted.write()).toBe(5);
    expect((await rows()).map((r) => r.count)).toEqual([1, 1, 1, 1, 1]);

    // A late point changes the minute again; fifteen minutes on, it leaves the 1-minute ring: collected whatever the budget.
    stores.write('acme', [{ series: 'lat', labels: { k: '0' }, ts: T0 + 30_000, value: 9 }]);
    clock.t = T0 + 15 * MINUTE;
    expect(persisted.collect(false, 0)).toBe(1);
    expect(await persisted.write()).toBe(1);
    expect((await rows())[0]).toEqual({ labels: '[["k","0"]]', minute: T0, count: 2 });
  });

  it('encodes a dirty minute before a point of a new minute takes its ring slot', async () => {
    // Two 1-minute buckets kept: the ring has 4 slots, so minute 4 takes minute 0's.
    const { clock, persisted, stores, rows } = await setup({ lat: { kind: 'gauge', retention: { '1m': '2m' }, persist: true } });
    stores.write('acme', [{ series: 'lat', labels: {}, ts: T0 + 1000, value: 1 }]);
    clock.t = T0 + 4 * MINUTE + 30_000;
    stores.write('acme', [{ series: 'lat', labels: {}, ts: T0 + 4 * MINUTE + 1000, value: 2 }]);
    expect(persisted.pending).toBe(1);
    await persisted.flush(true);
    expect(await rows()).toEqual([
      { labels: '[]', minute: T0, count: 1 },
      { labels: '[]', minute: T0 + 4 * MINUTE, count: 1 },
    ]);
  });

  it('keeps the rows of a failed write for the next one, in one transaction each', async () => {
    const { storage, clock, persisted, stores, rows } = await setup();
    for (let k = 0; k < 3; k++) stores.write('acme', [{ series: 'lat', labels: { k: `${k}` }, ts: T0 + 1000, value: k }]);
    clock.t = T0 + MINUTE + 10_000;
    persisted.collect();
    await sql`alter table sb_metric_minutes rename to sb_metric_minutes_away`.execute(storage.db);
    expect(await persisted.write()).toBe(0);
    expect(persisted.pending).toBe(3);
    await sql`alter table sb_metric_minutes_away rename to sb_metric_minutes`.execute(storage.db);
    expect(await persisted.write()).toBe(3);
    expect(persisted.pending).toBe(0);
    expect(await rows()).toHaveLength(3);
  });
});
