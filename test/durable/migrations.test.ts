import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinMigrations, migrateToLatest, Storage } from '@switchboard/server/testing';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, STORES, startDurableServer, type TestDatabase } from './helpers.js';

/** Migrations: the same list on both stores, idempotent, applied at start and by `switchboard migrate`. */

const root = join(import.meta.dirname, '..', '..');
const MIGRATIONS = builtinMigrations();
const NAMES = MIGRATIONS.map((m) => m.name);

function withoutDatabase(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { DATABASE_URL: _a, SWITCHBOARD_DATABASE: _b, ...rest } = env;
  return rest;
}

function cli(args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [join(root, 'packages/server/bin/switchboard.js'), ...args], {
    encoding: 'utf8',
    env: { ...withoutDatabase(process.env), ...env },
    timeout: 30_000,
  });
  return { code: res.status, out: res.stdout, err: res.stderr };
}

describe.each(STORES)('migrations on %s', (store) => {
  const dbs: TestDatabase[] = [];
  const dirs: string[] = [];
  const fresh = async () => {
    const db = await createTestDatabase(store);
    const dir = mkdtempSync(join(tmpdir(), 'sb-migrate-'));
    dbs.push(db);
    dirs.push(dir);
    return { db, dir };
  };
  afterAll(async () => {
    for (const db of dbs) await db.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('applies every migration once; running them again changes nothing', async () => {
    const { db, dir } = await fresh();
    const storage = Storage.open({ database: db.database, dataDir: dir });
    try {
      expect(storage.kind).toBe(store);
      const steps: string[] = [];
      const first = await migrateToLatest(storage, MIGRATIONS, (p) =>
        steps.push(p.kind === 'pending' ? `pending ${p.total}` : `${p.index}/${p.total} ${p.name}`),
      );
      expect(first).toEqual({ applied: NAMES, upToDate: 0 });
      expect(steps).toEqual([`pending ${NAMES.length}`, ...NAMES.map((n, i) => `${i + 1}/${NAMES.length} ${n}`)]);
      const second = await migrateToLatest(storage, MIGRATIONS);
      expect(second).toEqual({ applied: [], upToDate: NAMES.length });
      // The tables are there and usable through the typed layer.
      await storage.db.insertInto('sb_users').values({ tenant: 't', user_id: 'u', first_seen: 1, last_seen: 2 }).execute();
      expect(await storage.db.selectFrom('sb_users').selectAll().execute()).toEqual([{ tenant: 't', user_id: 'u', first_seen: 1, last_seen: 2 }]);
    } finally {
      await storage.close();
    }
  });

  it('`switchboard migrate` prints its progress, and a second run finds nothing pending; the server then starts on it', async () => {
    const { db, dir } = await fresh();
    const args = ['migrate', '--data', dir, ...(db.database ? ['--database', db.database] : [])];
    const first = cli(args);
    expect(first.code, first.err).toBe(0);
    expect(first.out).toContain(store === 'sqlite' ? 'Migrating SQLite database' : 'Migrating PostgreSQL database');
    expect(first.out).toContain(`${NAMES.length} pending: ${NAMES.join(', ')}`);
    for (const [i, name] of NAMES.entries()) expect(first.out).toMatch(new RegExp(`\\[${i + 1}/${NAMES.length}\\] ${name} \\.\\.\\. done \\(\\d+ ms\\)`));
    expect(first.out).toContain(`Database up to date: ${NAMES.length} migrations applied (${NAMES.length} now).`);
    const second = cli(args);
    expect(second.code, second.err).toBe(0);
    expect(second.out).toContain('no pending migrations');
    expect(second.out).toContain(`(0 now)`);
    const s = await startDurableServer(store, { keepDataDir: dir }, db);
    try {
      const res = await s.api('POST', '/notifications', { key: s.apiKey, tenant: 'acme', body: { user: 'u', type: 'system', title: 'after migrate' } });
      expect(res.status, res.text).toBe(201);
    } finally {
      await s.close();
    }
  });

  if (store === 'postgres') {
    it('two nodes migrating one fresh database at once apply each migration exactly once', async () => {
      const { db, dir } = await fresh();
      const a = Storage.open({ database: db.database, dataDir: dir });
      const b = Storage.open({ database: db.database, dataDir: dir });
      try {
        const [ra, rb] = await Promise.all([migrateToLatest(a, MIGRATIONS), migrateToLatest(b, MIGRATIONS)]);
        expect([...ra.applied, ...rb.applied].sort()).toEqual([...NAMES].sort());
        const { rows } = await sql<{ name: string }>`select name from sb_migrations`.execute(a.db);
        expect(rows.map((r) => r.name).sort()).toEqual([...NAMES].sort());
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('DATABASE_URL selects PostgreSQL for `switchboard migrate`', async () => {
      const { db, dir } = await fresh();
      const res = cli(['migrate', '--data', dir], { DATABASE_URL: db.database });
      expect(res.code, res.err).toBe(0);
      expect(res.out).toContain('Migrating PostgreSQL database');
    });
  }
});

describe('storage errors', () => {
  it('refuses a database URL that is not PostgreSQL, and names an unreachable database', () => {
    const bad = cli(['migrate', '--database', 'mysql://localhost/x']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('SB_ERR_CONFIG_INVALID');
    const down = cli(['migrate', '--database', 'postgres://nobody:hunter2@127.0.0.1:1/x']);
    expect(down.code).toBe(1);
    expect(down.err).toContain('SB_ERR_STORAGE');
    expect(down.err).not.toContain('hunter2');
  });
});

describe('SQLite page cache (sqliteCacheMb)', () => {
  it('is 64 MiB unless configured, the configured size otherwise; a size out of range stops the start naming the option', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-cache-'));
    try {
      for (const [mb, pages] of [
        [undefined, -64 * 1024],
        [8, -8 * 1024],
      ] as const) {
        const storage = Storage.open({ database: '', dataDir: dir, ...(mb === undefined ? {} : { sqliteCacheMb: mb }) });
        const { rows } = await sql<{ cache_size: number }>`pragma cache_size`.execute(storage.db);
        expect(rows[0]?.cache_size).toBe(pages);
        await storage.close();
      }
      const bad = cli(['migrate', '--data-dir', dir, '--sqlite-cache-mb', '1']);
      expect(bad.code).toBe(1);
      expect(bad.err).toContain('sqliteCacheMb');
      expect(cli(['migrate', '--data-dir', dir, '--sqlite-cache-mb', '16']).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a SQLite database created by version 0.1 (fixtures/switchboard-0.1.db: two notifications, preferences, one activity)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-migrate-0.1-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('opens with its data and its migration record; nothing runs again, and new writes work', async () => {
    copyFileSync(join(import.meta.dirname, 'fixtures', 'switchboard-0.1.db'), join(dir, 'switchboard.db'));
    // The fixture's activity happened in 2023: keep it from the retention sweep at start.
    const s = await startDurableServer(
      'sqlite',
      { keepDataDir: dir, activity: { retentionDays: 36_500 } },
      { database: '', schema: null, drop: async () => {} },
    );
    const as = { key: s.apiKey, tenant: 'acme' };
    try {
      const { rows } = await sql<{ name: string; timestamp: string }>`select name, timestamp from sb_migrations order by name`.execute(s.server.storage.db);
      expect(rows.map((r) => r.name)).toEqual([...NAMES].sort());
      // What 0.1 applied keeps its record; what came later (tenant quotas, activity search, jobs, locks, comments, webhooks, metrics) ran at this start.
      const later = [
        '0005_tenant_quotas',
        'activity_0002_search',
        '0006_jobs',
        '0007_job_queues',
        '0008_job_partial_indexes',
        'locks_0001_table',
        'documents_0001_tables',
        'documents_0002_sequence',
        'documents_0003_snapshots',
        'records_0001_tables',
        'comments_0001_threads',
        'comments_0002_reactions',
        'comments_0003_receipts',
        'comments_0004_followers',
        'comments_0005_deadlines',
        'webhooks_0001_tables',
        'webhooks_0002_lifecycle',
        'webhooks_0003_batching',
        'webhooks_0004_job_queues',
        'audit_0001_entries',
        'metrics_0001_tables',
        'metrics_alerts_0001_tables',
      ];
      expect(rows.filter((r) => !later.includes(r.name)).every((r) => r.timestamp.startsWith('2026-12-04T11:18:09'))).toBe(true);
      expect(rows.filter((r) => later.includes(r.name)).every((r) => r.timestamp > '2026-12-04T11:18:10')).toBe(true);
      const ann = await s.api('GET', '/notifications?user=ann', as);
      expect(ann.body['notifications']).toEqual([
        expect.objectContaining({ user: 'ann', type: 'mention', title: 'Before the upgrade', body: 'kept', groupKey: 'g1', read: false }),
      ]);
      expect((await s.api('GET', '/notifications/unread-count?user=bob', as)).body).toEqual({ count: 1, unseen: 1 });
      expect((await s.api('GET', '/notifications/preferences?user=bob', as)).body).toEqual({ mutedTypes: ['digest'], mutedCategories: [], minPriority: 'low' });
      const feed = await s.api('GET', '/activities?scope=project:42', as);
      expect(feed.body['activities']).toEqual([expect.objectContaining({ actor: 'ann', verb: 'created', object: 'task:1', time: 1700000000000 })]);
      // The activity recorded before search existed was indexed by the migration.
      const found = await s.api('GET', '/activities?scope=project:42&q=ann%20task%201', as);
      expect(found.body['activities']).toEqual(feed.body['activities']);
      const created = await s.api('POST', '/notifications', { ...as, body: { user: 'ann', type: 'system', title: 'After the upgrade' } });
      expect(created.status, created.text).toBe(201);
      expect(((await s.api('GET', '/notifications?user=ann', as)).body['notifications'] as unknown[]).length).toBe(2);
    } finally {
      await s.close();
    }
  });
});
