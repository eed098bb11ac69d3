import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwitchboardClient } from '@switchboard/client';
import { ErrorCode } from '@switchboard/protocol';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type ApiResponse,
  createTestDatabase,
  type DurableServer,
  expectApiError,
  STORES,
  type StoreName,
  startDurableServer,
  type TestDatabase,
} from '../../durable/helpers.js';
import { eventually } from '../../helpers/eventually.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { T0 } from './helpers.js';

/**
 * Series declared over HTTP and saved dashboards, on SQLite and PostgreSQL (a fresh schema
 * each): a tenant's declarations survive a restart, reach a node that has not seen them (it
 * looks them up when an ingest names one) and are what ingest checks against; dashboards are
 * saved per tenant and their saves reach SDK subscribers of `dashboard:{id}` at once, where
 * viewers are ordinary presence members. Every refused request answers its own code and
 * writes no row; another tenant's ids answer as unknown ones; a canary planted in tenant demo
 * never shows in what tenant acme reads.
 */

const CONFIGURED = { 'api.latency_ms': { kind: 'distribution', unit: 'ms', labels: ['route'], persist: true } } as const;
const WEB = { kind: 'distribution', unit: 'ms', labels: ['page'], retention: { '1s': '2m' }, persist: true };

interface Counts {
  series: number;
  dashboards: number;
  minutes: number;
}

describe.each(STORES)('series declared over HTTP and dashboards on %s', (store: StoreName) => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  let db: TestDatabase;
  let dir: string;
  const clock = new ManualClock(T0);

  async function fresh(): Promise<void> {
    db = await createTestDatabase(store);
    dir = mkdtempSync(join(tmpdir(), 'sb-metrics-declared-'));
    cleanup.push(
      () => db.drop(),
      () => rmSync(dir, { recursive: true, force: true }),
    );
  }

  async function node(metrics: Record<string, unknown> = {}): Promise<DurableServer> {
    // The demo workspace off: tenant demo is an ordinary tenant here, whose declarations the tests count.
    const s = await startDurableServer(
      store,
      { keepDataDir: dir, now: clock.now, console: { demo: false }, metrics: { series: CONFIGURED, ...metrics } } as never,
      db,
    );
    let open = true;
    const stop = s.close;
    const close = async () => {
      if (open) await stop();
      open = false;
    };
    cleanup.push(close);
    return Object.assign(s, { close });
  }

  const call = (s: DurableServer, method: string, path: string, body?: unknown, tenant = 'acme'): Promise<ApiResponse> =>
    s.api(method, path, { key: s.apiKey, tenant, ...(body !== undefined ? { body } : {}) });
  const counts = async (s: DurableServer): Promise<Counts> => {
    const n = async (table: string) =>
      Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(s.server.storage.db)).rows[0]?.n);
    return { series: await n('sb_metric_series'), dashboards: await n('sb_metric_dashboards'), minutes: await n('sb_metric_minutes') };
  };
  /** A refused ingest: its status and code (the body lists the problems too). */
  const refused = (res: ApiResponse, code: number) => {
    expect(res.status, res.text).toBe(422);
    expect((res.body['error'] as { code: number }).code).toBe(code);
  };
  const point = (series: string, labels: Record<string, string>, value: number, ts = clock.now()) => ({ points: [{ series, labels, ts, value }] });

  it('keeps a declared series across a restart, serves it to a node that had not seen it, and deletes it with its stored minutes', async () => {
    await fresh();
    const a = await node();
    const b = await node();
    const put = await call(a, 'PUT', '/metrics/series/web.lcp_ms', WEB);
    expect(put.status, put.text).toBe(200);
    expect(put.body).toMatchObject({
      name: 'web.lcp_ms',
      source: 'api',
      declaration: { kind: 'distribution', unit: 'ms', labels: ['page'], retention: { '1s': 120_000 }, persist: true },
    });
    // Node b loaded the declarations before the PUT and heard nothing of it (memory engines): it looks the name up.
    expect((await call(b, 'POST', '/metrics/points', point('web.lcp_ms', { page: '/home' }, 1200))).status).toBe(200);
    const listed = await call(b, 'GET', '/metrics/series');
    expect((listed.body['series'] as Array<{ name: string; source: string }>).map((x) => [x.name, x.source])).toEqual([
      ['api.latency_ms', 'config'],
      ['web.lcp_ms', 'api'],
    ]);
    // The declaration is what ingest checks: a label it does not declare is refused.
    refused(await call(a, 'POST', '/metrics/points', point('web.lcp_ms', { route: '/x' }, 1)), ErrorCode.UnknownLabel.code);
    expect((await call(a, 'PUT', '/metrics/series/web.lcp_ms', { ...WEB, labels: ['page', 'device'] })).status).toBe(200);
    expect((await call(a, 'POST', '/metrics/points', point('web.lcp_ms', { page: '/home', device: 'phone' }, 900))).status).toBe(200);

    await a.close();
    await b.close();
    const c = await node();
    expect((await call(c, 'GET', '/metrics/series/web.lcp_ms')).body).toMatchObject({ source: 'api', declaration: { labels: ['page', 'device'] } });
    expect((await call(c, 'POST', '/metrics/points', point('web.lcp_ms', { page: '/home', device: 'tablet' }, 700))).status).toBe(200);
    const q = await call(c, 'GET', `/metrics/query?series=web.lcp_ms&labels=${encodeURIComponent('{"page":"/home","device":"tablet"}')}&stats=count,max`);
    expect(q.status, q.text).toBe(200);
    expect((q.body['count'] as number[]).reduce((x, y) => x + y, 0)).toBe(1);
    // The restart wrote the open minutes of the first two nodes.
    expect((await counts(c)).minutes).toBeGreaterThan(0);

    expect(await call(c, 'DELETE', '/metrics/series/web.lcp_ms')).toMatchObject({ status: 200, body: { deleted: true } });
    expect(await counts(c)).toMatchObject({ series: 0, minutes: 0 });
    expectApiError(await call(c, 'GET', '/metrics/series/web.lcp_ms'), 404, ErrorCode.NotFound.code);
    refused(await call(c, 'POST', '/metrics/points', point('web.lcp_ms', { page: '/home' }, 1)), ErrorCode.UnknownSeries.code);
    expectApiError(await call(c, 'DELETE', '/metrics/series/web.lcp_ms'), 404, ErrorCode.NotFound.code);
  });

  it('refuses a bad declaration, a configured series, a kind change and the cap, each with its code and no row written', async () => {
    await fresh();
    const s = await node({ maxDeclaredSeries: 2 });
    for (const body of [
      {},
      { kind: 'histogram' },
      { kind: 'gauge', colour: 'red' },
      { kind: 'gauge', labels: ['1st'] },
      { kind: 'gauge', retention: { '1s': 'forever' } },
      { kind: 'gauge', retention: { '5s': '1m' } },
    ]) {
      const res = await call(s, 'PUT', '/metrics/series/bad.one', body);
      expectApiError(res, 400, ErrorCode.BadRequest.code);
    }
    expectApiError(await call(s, 'PUT', `/metrics/series/${encodeURIComponent('no spaces')}`, { kind: 'gauge' }), 400, ErrorCode.BadRequest.code);
    expect(await counts(s)).toEqual({ series: 0, dashboards: 0, minutes: 0 });

    expectApiError(await call(s, 'PUT', '/metrics/series/api.latency_ms', { kind: 'distribution' }), 409, ErrorCode.SeriesReadOnly.code);
    expectApiError(await call(s, 'DELETE', '/metrics/series/api.latency_ms'), 409, ErrorCode.SeriesReadOnly.code);
    expect((await call(s, 'GET', '/metrics/series/api.latency_ms')).body).toMatchObject({
      source: 'config',
      declaration: { kind: 'distribution', persist: true },
    });

    expect((await call(s, 'PUT', '/metrics/series/jobs.done', { kind: 'counter' })).status).toBe(200);
    expectApiError(await call(s, 'PUT', '/metrics/series/jobs.done', { kind: 'gauge' }), 409, ErrorCode.SeriesKindConflict.code);
    expect((await call(s, 'GET', '/metrics/series/jobs.done')).body).toMatchObject({ declaration: { kind: 'counter' } });
    expect((await call(s, 'PUT', '/metrics/series/queue.depth', { kind: 'gauge' })).status).toBe(200);
    expectApiError(await call(s, 'PUT', '/metrics/series/third.one', { kind: 'gauge' }), 422, ErrorCode.SeriesDeclarationLimit.code);
    expect(await counts(s)).toEqual({ series: 2, dashboards: 0, minutes: 0 });
    // Deleted first, a series may come back as another kind.
    expect((await call(s, 'DELETE', '/metrics/series/jobs.done')).status).toBe(200);
    expect((await call(s, 'PUT', '/metrics/series/jobs.done', { kind: 'gauge' })).body).toMatchObject({ declaration: { kind: 'gauge' } });
  });

  it('publishes a saved dashboard to its SDK viewers at once, who are presence members of dashboard:{id}', async () => {
    await fresh();
    const s = await node();
    const viewer = async (user: string, tenant = 'acme') => {
      const client = new SwitchboardClient(s.url, { getToken: () => s.token({ sub: user, tenant }), WebSocket });
      cleanup.push(() => client.disconnect());
      client.connect();
      const sub = client.subscribe<{ kind: string; dashboard?: { version: number; title: string }; id?: string }>('dashboard:ops');
      const seen: Array<{ kind: string; version?: number; title?: string }> = [];
      sub.on('publication', (p) =>
        seen.push({ kind: p.data.kind, ...(p.data.dashboard ? { version: p.data.dashboard.version, title: p.data.dashboard.title } : {}) }),
      );
      await new Promise((r) => sub.once('subscribed', r));
      return { sub, seen };
    };
    const ann = await viewer('ann');
    const bob = await viewer('bob');
    const eve = await viewer('eve', 'demo');
    await Promise.all([ann.sub.enterPresence({ cursor: { x: 1, y: 2 } }), bob.sub.enterPresence({ cursor: { x: 5, y: 5 } })]);
    expect((await ann.sub.presence()).map((m) => m.user).sort()).toEqual(['ann', 'bob']);

    const panels = [{ title: 'Login p95', series: 'api.latency_ms', labels: { route: '/login' }, resolution: '1s', window: '5m', stats: ['p95', 'max'] }];
    const first = await call(s, 'PUT', '/metrics/dashboards/ops', { title: 'Ops', panels });
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ id: 'ops', title: 'Ops', version: 1, panels });
    await eventually(() => ann.seen.length === 1 && bob.seen.length === 1, 5000, 'the save to reach both viewers');
    expect(ann.seen[0]).toEqual({ kind: 'dashboard.saved', version: 1, title: 'Ops' });
    expect((await call(s, 'PUT', '/metrics/dashboards/ops', { title: 'Ops (renamed)', panels })).body).toMatchObject({ version: 2 });
    await eventually(() => bob.seen.length === 2, 5000, 'the second save');
    expect(bob.seen[1]).toEqual({ kind: 'dashboard.saved', version: 2, title: 'Ops (renamed)' });

    expect((await call(s, 'GET', '/metrics/dashboards')).body).toMatchObject({ dashboards: [{ id: 'ops', title: 'Ops (renamed)', version: 2 }] });
    expect((await call(s, 'GET', '/metrics/dashboards/ops')).body).toMatchObject({ id: 'ops', panels });
    expect((await call(s, 'DELETE', '/metrics/dashboards/ops')).body).toEqual({ deleted: true });
    await eventually(() => ann.seen.length === 3, 5000, 'the deletion');
    expect(ann.seen[2]).toEqual({ kind: 'dashboard.deleted' });
    // Tenant demo's viewer of its own dashboard:ops saw none of acme's.
    expect(eve.seen).toEqual([]);
    expectApiError(await call(s, 'GET', '/metrics/dashboards/ops'), 404, ErrorCode.UnknownDashboard.code);
  });

  it("refuses unknown, oversized and too many dashboards, and answers another tenant's ids as unknown, writing nothing", async () => {
    await fresh();
    const s = await node({ maxDashboards: 2, maxDashboardPanels: 3, maxDashboardBytes: 2048 });
    const panel = { series: 'api.latency_ms' };
    expectApiError(await call(s, 'GET', '/metrics/dashboards/nope'), 404, ErrorCode.UnknownDashboard.code);
    expectApiError(await call(s, 'DELETE', '/metrics/dashboards/nope'), 404, ErrorCode.UnknownDashboard.code);
    expectApiError(
      await call(s, 'PUT', '/metrics/dashboards/big', { title: 'Big', panels: [panel, panel, panel, panel] }),
      422,
      ErrorCode.DashboardTooLarge.code,
    );
    const long = { series: 'api.latency_ms', title: 'x'.repeat(200) };
    expectApiError(
      await call(s, 'PUT', '/metrics/dashboards/big', {
        title: 'y'.repeat(200),
        panels: [long, long, long].map((p, i) => ({ ...p, labels: { route: 'z'.repeat(600 + i) } })),
      }),
      422,
      ErrorCode.DashboardTooLarge.code,
    );
    for (const body of [
      { title: 'No panels' },
      { title: '', panels: [] },
      { title: 'T', panels: [{ labels: {} }] },
      { title: 'T', panels: [{ series: 'a', window: 'forever' }] },
    ]) {
      expectApiError(await call(s, 'PUT', '/metrics/dashboards/bad', body), 400, ErrorCode.BadRequest.code);
    }
    expectApiError(await call(s, 'PUT', '/metrics/dashboards/bad%20id', { title: 'T', panels: [] }), 400, ErrorCode.BadRequest.code);
    expect(await counts(s)).toEqual({ series: 0, dashboards: 0, minutes: 0 });

    expect((await call(s, 'PUT', '/metrics/dashboards/one', { title: 'One', panels: [panel] })).status).toBe(200);
    expect((await call(s, 'PUT', '/metrics/dashboards/two', { title: 'Two', panels: [] })).status).toBe(200);
    expectApiError(await call(s, 'PUT', '/metrics/dashboards/three', { title: 'Three', panels: [] }), 422, ErrorCode.LimitExceeded.code);
    // A save of one held is no new dashboard: allowed at the cap.
    expect((await call(s, 'PUT', '/metrics/dashboards/two', { title: 'Two again', panels: [] })).status).toBe(200);
    expect(await counts(s)).toEqual({ series: 0, dashboards: 2, minutes: 0 });

    // Tenant demo: acme's ids answer as unknown, and nothing of acme's changes.
    expectApiError(await call(s, 'GET', '/metrics/dashboards/one', undefined, 'demo'), 404, ErrorCode.UnknownDashboard.code);
    expectApiError(await call(s, 'DELETE', '/metrics/dashboards/one', undefined, 'demo'), 404, ErrorCode.UnknownDashboard.code);
    expect((await call(s, 'GET', '/metrics/dashboards', undefined, 'demo')).body).toEqual({ dashboards: [] });
    expect((await call(s, 'PUT', '/metrics/series/acme.only', { kind: 'gauge' })).status).toBe(200);
    expectApiError(await call(s, 'GET', '/metrics/series/acme.only', undefined, 'demo'), 404, ErrorCode.NotFound.code);
    expectApiError(await call(s, 'DELETE', '/metrics/series/acme.only', undefined, 'demo'), 404, ErrorCode.NotFound.code);
    refused(await call(s, 'POST', '/metrics/points', point('acme.only', {}, 1), 'demo'), ErrorCode.UnknownSeries.code);
    expectApiError(await call(s, 'GET', '/metrics/query?series=acme.only', undefined, 'demo'), 422, ErrorCode.UnknownSeries.code);
    expect(await counts(s)).toEqual({ series: 1, dashboards: 2, minutes: 0 });
    expect((await call(s, 'GET', '/metrics/dashboards/one')).status).toBe(200);
  });

  it("never shows tenant demo's canary series, labels or dashboards in what tenant acme reads", async () => {
    await fresh();
    const s = await node();
    const CANARY = 'CANARY-7f3a';
    expect((await call(s, 'PUT', `/metrics/series/${CANARY}.series`, { kind: 'gauge', labels: ['who'], persist: true }, 'demo')).status).toBe(200);
    expect((await call(s, 'POST', '/metrics/points', point(`${CANARY}.series`, { who: CANARY }, 42), 'demo')).status).toBe(200);
    expect((await call(s, 'POST', '/metrics/points', point('api.latency_ms', { route: CANARY }, 42), 'demo')).status).toBe(200);
    expect((await call(s, 'PUT', '/metrics/dashboards/shared-id', { title: CANARY, panels: [{ series: `${CANARY}.series` }] }, 'demo')).status).toBe(200);
    expect((await call(s, 'PUT', '/metrics/dashboards/shared-id', { title: 'acme board', panels: [] })).status).toBe(200);
    // The open minutes are stored at the next flush; the acme reads below come after it.
    clock.advance(2 * 60_000);
    await eventually(async () => (await counts(s)).minutes === 2, 10_000, "demo's minutes to be stored");

    const reads = [
      await call(s, 'GET', '/metrics/series'),
      await call(s, 'GET', `/metrics/series/${CANARY}.series`),
      await call(s, 'GET', '/metrics/dashboards'),
      await call(s, 'GET', '/metrics/dashboards/shared-id'),
      await call(
        s,
        'GET',
        `/metrics/query?series=api.latency_ms&resolution=1m&from=${T0 - 60_000}&labels=${encodeURIComponent(JSON.stringify({ route: CANARY }))}`,
      ),
      await call(s, 'GET', `/metrics/query?series=${CANARY}.series&resolution=1m`),
      await call(s, 'POST', '/metrics/points', point(`${CANARY}.series`, { who: 'acme' }, 1)),
    ];
    expect(reads.map((r) => r.status)).toEqual([200, 404, 200, 200, 200, 422, 422]);
    expect((reads[4]?.body['count'] as number[]).every((n) => n === 0)).toBe(true);
    // What acme named itself is echoed (the series it asked for, the label set it asked for); nothing else of demo's shows.
    for (const r of reads) expect(r.text.replace(new RegExp(`${CANARY}\\.series|"route":"${CANARY}"`, 'g'), ''), r.text).not.toContain(CANARY);
    expect(Object.values(reads[4]?.body['stats'] as Record<string, unknown[]>).every((col) => col.every((v) => v === null))).toBe(true);
    expect(reads[3]?.body).toMatchObject({ title: 'acme board', version: 1 });
  });
});
