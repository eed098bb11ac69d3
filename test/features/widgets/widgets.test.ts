import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@switchboard/protocol';
import { builtinFeatures, configFor, defineFeature, defineRoute, type FeatureModule, Switchboard } from '@switchboard/server';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestDatabase, type DurableServer, reply, STORES, startDurableServer, type TestDatabase } from '../../durable/helpers.js';
import { RawClient } from '../../helpers/raw-client.js';
import { widgetsFeature } from './index.js';
import { widgetStatsFeature } from './stats.js';

/**
 * A feature that lives in this folder only: its config section, namespace, migration,
 * command, route, hook and service reach a real server, on SQLite and PostgreSQL, through
 * its manifest and `Switchboard.create({ features })`.
 */

const FIXTURE = join(import.meta.dirname, '..', '..', 'durable', 'fixtures', 'switchboard-0.1.db');

const admin = (s: DurableServer) => ({ key: s.apiKey, tenant: 'acme' });

async function migrationNames(s: DurableServer): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from sb_migrations`.execute(s.server.storage.db);
  return rows.map((r) => r.name).sort();
}

describe("a feature's config section", () => {
  const config = configFor([...builtinFeatures(), widgetsFeature()]);

  it("becomes options with a flag, an environment variable and help, like the kernel's", () => {
    const opt = config.listOptions().find((o) => o.key === 'widgets.maxPerUser');
    expect(opt).toMatchObject({ flag: '--widgets.max-per-user', env: 'SWITCHBOARD_WIDGETS_MAX_PER_USER', description: 'widgets one user may add (default 3)' });
    expect(config.loadConfig({ env: {} })['widgets']).toEqual({ maxPerUser: 3 });
    expect(config.loadConfig({ env: { SWITCHBOARD_WIDGETS_MAX_PER_USER: '5' } })['widgets']).toEqual({ maxPerUser: 5 });
    expect(config.loadConfig({ env: {}, flags: new Map([['--widgets.max-per-user', '7']]) })['widgets']).toEqual({ maxPerUser: 7 });
    expect(config.loadConfig({ env: {} }).namespaces['widgets']).toMatchObject({ subscribe: 'authenticated', clientPublish: false });
  });

  it('is validated strictly, naming the option', () => {
    expect(() => config.parseConfig({ widgets: { maxPerUsr: 1 } })).toThrow(/SB_ERR_CONFIG_INVALID[\s\S]*widgets\.maxPerUsr/);
    expect(() => config.parseConfig({ widgets: { maxPerUser: 0 } })).toThrow(
      /widgets\.maxPerUser \(--widgets\.max-per-user \/ SWITCHBOARD_WIDGETS_MAX_PER_USER\)/,
    );
  });
});

describe.each(STORES)('a feature from its own folder on %s', (store) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-widgets-'));
  let db: TestDatabase;
  let s: DurableServer;
  const start = async () => startDurableServer(store, { keepDataDir: dir, features: [widgetsFeature(), widgetStatsFeature()], widgets: { maxPerUser: 2 } }, db);

  afterAll(async () => {
    await s?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs its migration once, after the shared and built-in ones', async () => {
    db = await createTestDatabase(store);
    s = await start();
    expect(await migrationNames(s)).toEqual([
      '0001_users',
      '0002_idempotency_keys',
      '0003_notifications',
      '0004_activities',
      '0005_tenant_quotas',
      '0006_jobs',
      '0007_job_queues',
      '0008_job_partial_indexes',
      'activity_0002_search',
      'audit_0001_entries',
      'comments_0001_threads',
      'comments_0002_reactions',
      'comments_0003_receipts',
      'comments_0004_followers',
      'comments_0005_deadlines',
      'documents_0001_tables',
      'documents_0002_sequence',
      'documents_0003_snapshots',
      'locks_0001_table',
      'metrics_0001_tables',
      'metrics_alerts_0001_tables',
      'records_0001_tables',
      'webhooks_0001_tables',
      'webhooks_0002_lifecycle',
      'webhooks_0003_batching',
      'webhooks_0004_job_queues',
      'widgets_0001_widgets',
    ]);
  });

  it('adds a command, a route, a hook and a service, sized by its config section', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'ann' }));
    expect(reply(await c.call('widgets.add', { name: 'alpha' }))).toEqual({ name: 'alpha' });
    expect(reply(await c.call('widgets.add', { name: 'beta' }))).toEqual({ name: 'beta' });
    expect((await c.call('widgets.add', { name: 'gamma' })).error).toMatchObject({
      code: ErrorCode.LimitExceeded.code,
      message: expect.stringContaining('at most 2'),
    });
    expect((await c.call('widgets.add', { name: 'Not Valid' })).error?.code).toBe(ErrorCode.BadRequest.code);

    const list = await s.api('GET', '/widgets?user=ann', admin(s));
    expect(list.status, list.text).toBe(200);
    expect(list.body).toEqual({ widgets: ['alpha', 'beta'] });
    expect((await s.api('GET', '/widgets', admin(s))).status).toBe(400);
    expect((await s.api('GET', '/widgets?user=ann', { key: null })).status).toBe(401);

    // The hook: `widgets:{name}` (its default namespace) only for a widget that exists.
    expect(reply(await c.call('subscribe', { channel: 'widgets:alpha' }))).toBeDefined();
    expect((await c.call('subscribe', { channel: 'widgets:nope' })).error).toMatchObject({
      code: ErrorCode.PermissionDenied.code,
      message: expect.stringContaining('no widget nope'),
    });

    // The service, used by a feature that depends on it.
    expect((await s.api('GET', '/widget-stats?user=ann', admin(s))).body).toEqual({ count: 2 });
    c.close();
  });

  it('has its routes in the OpenAPI document, from the schemas that validate them', async () => {
    const res = await s.api('GET', '/openapi.json', { key: null });
    const paths = res.body['paths'] as Record<
      string,
      Record<string, { operationId: string; summary: string; parameters: Array<{ name: string; in: string; required: boolean }> }>
    >;
    expect(paths['/widgets']?.['get']).toMatchObject({ operationId: 'listWidgets', summary: "A user's widgets (at most 2)" });
    expect(paths['/widgets']?.['get']?.parameters).toContainEqual(expect.objectContaining({ name: 'user', in: 'query', required: true }));
    expect(paths['/widget-stats']?.['get']?.operationId).toBe('widgetStats');
    expect(paths['/notifications']?.['post']?.operationId).toBe('createNotifications');
  });

  it('keeps its data across a restart, and migrates nothing twice', async () => {
    const before = await migrationNames(s);
    await s.close();
    s = await start();
    expect(await migrationNames(s)).toEqual(before);
    expect((await s.api('GET', '/widgets?user=ann', admin(s))).body).toEqual({ widgets: ['alpha', 'beta'] });
  });
});

describe('a database created by version 0.1 (SQLite), with a new feature added', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-widgets-old-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gets only the migrations it lacks (activity search, comments, locks, the new feature) and keeps the old data', async () => {
    copyFileSync(FIXTURE, join(dir, 'switchboard.db'));
    const s = await startDurableServer('sqlite', { keepDataDir: dir, features: [widgetsFeature()] }, { database: '', schema: null, drop: async () => {} });
    try {
      expect(await migrationNames(s)).toEqual([
        '0001_users',
        '0002_idempotency_keys',
        '0003_notifications',
        '0004_activities',
        '0005_tenant_quotas',
        '0006_jobs',
        '0007_job_queues',
        '0008_job_partial_indexes',
        'activity_0002_search',
        'audit_0001_entries',
        'comments_0001_threads',
        'comments_0002_reactions',
        'comments_0003_receipts',
        'comments_0004_followers',
        'comments_0005_deadlines',
        'documents_0001_tables',
        'documents_0002_sequence',
        'documents_0003_snapshots',
        'locks_0001_table',
        'metrics_0001_tables',
        'metrics_alerts_0001_tables',
        'records_0001_tables',
        'webhooks_0001_tables',
        'webhooks_0002_lifecycle',
        'webhooks_0003_batching',
        'webhooks_0004_job_queues',
        'widgets_0001_widgets',
      ]);
      const inbox = await s.api('GET', '/notifications?user=ann', admin(s));
      expect((inbox.body['notifications'] as Array<{ title: string }>).map((n) => n.title)).toEqual(['Before the upgrade']);
    } finally {
      await s.close();
    }
  });
});

describe('manifests are checked before anything starts', () => {
  const bare = (name: string, more: Partial<FeatureModule> = {}): FeatureModule => defineFeature({ name, ...more });
  const starting = (features: FeatureModule[], config: Record<string, unknown> = {}) => startDurableServer('sqlite', { features, ...config });

  it('a service lookup outside dependsOn is SB_ERR_FEATURE_SERVICE', async () => {
    const nosy = bare('nosy', { start: (ctx) => void ctx.feature('widgets') });
    await expect(starting([widgetsFeature(), nosy])).rejects.toThrow('SB_ERR_FEATURE_SERVICE');
    const needsNothing = bare('needs-nothing', { dependsOn: ['activity'], start: (ctx) => void ctx.feature('activity') });
    const s = await starting([needsNothing]);
    await s.stop();
    const serviceless = bare('serviceless');
    const user = bare('user-of-serviceless', { dependsOn: ['serviceless'], start: (ctx) => void ctx.feature('serviceless') });
    await expect(starting([serviceless, user])).rejects.toThrow(/SB_ERR_FEATURE_SERVICE.*provides no service/);
  });

  it('a missing dependency or an unknown hook name is refused', async () => {
    await expect(starting([widgetStatsFeature()])).rejects.toThrow('SB_ERR_FEATURE_DEPENDENCY');
    await expect(starting([bare('typo', { hooks: { onPublish: () => {} } as never })])).rejects.toThrow('SB_ERR_FEATURE_HOOK');
  });

  it('clashes with the kernel or another feature are SB_ERR_FEATURE_MANIFEST', async () => {
    const schema = z.strictObject({});
    await expect(starting([bare('limits', { config: { schema, description: 'x' } })])).rejects.toThrow(/SB_ERR_FEATURE_MANIFEST.*"limits"/);
    await expect(starting([bare('rooms', { namespaces: { user: { subscribe: 'authenticated' } } })])).rejects.toThrow(
      /SB_ERR_FEATURE_MANIFEST.*namespace "user"/,
    );
    await expect(starting([bare('again', { migrations: [{ name: '0003_notifications', up: async () => {} }] })])).rejects.toThrow(
      /SB_ERR_FEATURE_MANIFEST.*0003_notifications/,
    );
    const publish = defineRoute({
      method: 'POST',
      url: '/publish',
      operationId: 'mine',
      tag: 't',
      summary: 's',
      response: z.object({}),
      handler: async () => ({}),
    });
    await expect(starting([bare('router', { routes: () => [publish] })])).rejects.toThrow(/SB_ERR_FEATURE_MANIFEST.*POST \/publish/);
    await expect(starting([bare('errs', { errors: { SB_ERR_LISTEN: 'mine' } })])).rejects.toThrow(/SB_ERR_FEATURE_MANIFEST.*SB_ERR_LISTEN/);
  });

  it("a feature's namespace option: off by default, on where it declares it, merged with other declarations, validated, read from the channel", async () => {
    const option = { schema: z.union([z.boolean(), z.strictObject({ max: z.number().int().min(1) })]).default(false), description: 'stamps on channels' };
    let seen: Record<string, unknown> = {};
    const stamps = bare('stamps', {
      namespaceOption: option,
      namespaces: { project: { stamps: { max: 3 } }, board: { stamps: true, presence: false } },
      start: (ctx) => {
        const of = (channel: string) => ctx.node.resolve('acme', channel).options;
        seen = { project: of('project:1')['stamps'], chat: of('chat:1')['stamps'], board: of('board:1')['stamps'], boardPresence: of('board:1').presence };
        // The kernel's options of a namespace the feature added its option to are kept.
        seen['projectHistory'] = of('project:1').historySize;
      },
    });
    const s = await starting([stamps]);
    await s.stop();
    expect(seen).toEqual({ project: { max: 3 }, chat: false, board: true, boardPresence: false, projectHistory: 100 });
    // A configured value is checked by the feature's schema like every other option.
    await expect(starting([stamps], { namespaces: { project: { stamps: { max: 0 } } } })).rejects.toThrow(/namespaces\.project\.stamps/);
    await expect(starting([stamps], { namespaces: { project: { stamp: true } } })).rejects.toThrow(/stamp/);
    // An option of the kernel's, or one another declaration sets otherwise, is a clash.
    await expect(starting([bare('presence', { namespaceOption: option })])).rejects.toThrow(/SB_ERR_FEATURE_MANIFEST.*namespace option "presence"/);
    const other = bare('other', { namespaces: { board: { presence: true } } });
    await expect(starting([stamps, other])).rejects.toThrow(/SB_ERR_FEATURE_MANIFEST.*namespace "board".*presence/);
  });

  it('a feature throws its own declared error code from start', async () => {
    await expect(starting([widgetsFeature()], { widgets: { maxPerUser: 999 } })).rejects.toThrow('SB_ERR_WIDGETS_CONFIG: maxPerUser 999 is reserved');
  });

  it('an embedding app may run without the built-in features', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-bare-'));
    const server = await Switchboard.create({
      config: { logLevel: 'silent', host: '127.0.0.1', port: 0, dataDir },
      builtinFeatures: false,
      features: [widgetsFeature()],
    });
    try {
      const { port } = await server.listen();
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/notifications?user=ann`, {
        headers: { authorization: `Bearer ${server.devAdminKey}`, 'x-switchboard-tenant': 'acme' },
      });
      expect(res.status).toBe(404);
      const { rows } = await sql<{ name: string }>`select name from sb_migrations`.execute(server.storage.db);
      expect(rows.map((r) => r.name).sort()).toEqual([
        '0001_users',
        '0002_idempotency_keys',
        '0005_tenant_quotas',
        '0006_jobs',
        '0007_job_queues',
        '0008_job_partial_indexes',
        'widgets_0001_widgets',
      ]);
      expect(server.config['notifications']).toBeUndefined();
      expect(server.feature<{ list: unknown }>('widgets').list).toBeTypeOf('function');
    } finally {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
