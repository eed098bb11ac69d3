import { ErrorCode } from '@switchboard/protocol';
import { createStoredApiKey, revokeStoredApiKey } from '@switchboard/server/testing';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { RawClient } from '../helpers/raw-client.js';
import { ALL_ACTIONS } from '../helpers/server.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { type DurableServer, expectApiError, STORES, startDurableServer } from './helpers.js';

/**
 * The audit log on both stores, with real WebSocket connections and real HTTP. The server's
 * clock is the test's: each test starts a new minute window, and writes what it held with
 * `flush()` (what the end of a minute does) instead of waiting.
 */

interface Entry {
  id: string;
  tenant: string | null;
  type: string;
  at: number;
  user: string | null;
  ip: string | null;
  count: number;
  firstAt: number;
  lastAt: number;
  detail: Record<string, unknown>;
}
interface Page {
  entries: Entry[];
  nextCursor: string | null;
}

const AUD = 'switchboard-test';
const CAPS = { 'project:*': ALL_ACTIONS, 'chat:*': ALL_ACTIONS, 'user:*': ALL_ACTIONS };

describe.each(STORES)('audit log on %s', (store) => {
  let s: DurableServer;
  const clock = new ManualClock();

  beforeAll(async () => {
    s = await startDurableServer(store, {
      now: clock.now,
      jobs: { pollInterval: '1h' },
      auth: { audience: AUD },
      limits: { newConnectionsPerIpPerSecond: 1_000_000, commandsPerSecond: 5 },
      audit: { rowsPerIpPerMinute: 20 },
      webhooks: { allowNetworks: ['127.0.0.1/32'] },
    });
  });
  afterAll(async () => {
    await s?.stop();
  });

  const audit = () => s.server.feature<{ flush(): Promise<number> }>('audit');
  /** A new minute window, and everything held before it written. */
  const nextMinute = async () => {
    await audit().flush();
    clock.advance(60_000);
  };
  const token = (sub: string, opts: { tenant?: string; aud?: string; ttlSeconds?: number; caps?: Record<string, string[]> } = {}) =>
    s.server.mintToken({ sub, tenant: opts.tenant ?? 'acme', aud: opts.aud ?? AUD, caps: (opts.caps ?? CAPS) as never, ttlSeconds: opts.ttlSeconds ?? 3600 });
  const connect = async (tok: string) => {
    const c = await RawClient.open(s.url);
    const reply = await c.call('connect', { token: tok });
    return { c, reply };
  };
  const refused = async (tok: string) => {
    const { c, reply } = await connect(tok);
    expect(reply.error, 'the token is refused').toBeDefined();
    c.close();
    return reply.error;
  };
  const list = async (query: string, opts: { key?: string | null; tenant?: string; path?: string } = {}) => {
    const res = await s.api('GET', `${opts.path ?? '/audit'}${query ? `?${query}` : ''}`, opts);
    expect(res.status, res.text).toBe(200);
    return res.body as unknown as Page;
  };
  const system = (query = '') => list(query, { key: s.apiKey, path: '/audit/system' });
  const since = (t: number) => `from=${t}`;

  // First: the receiver verifies webhook-timestamp against the wall clock (5 minutes of tolerance).
  it('records forbidden and cross-tenant channel attempts, and delivers them as audit.* webhook events', async () => {
    await nextMinute();
    const t0 = clock.now() - (clock.now() % 60_000);
    const r = await WebhookReceiver.start();
    const created = await s.api('POST', '/webhooks/endpoints', { body: { url: r.url, events: ['audit.channel.*'] } });
    r.secret = (created.body as { secret: string }).secret;
    const { c } = await connect(await token('eve', { caps: { 'chat:*': ['subscribe'] } }));
    expect((await c.call('subscribe', { channel: 'project:secret' })).error?.code).toBe(ErrorCode.PermissionDenied.code);
    expect((await c.call('subscribe', { channel: 'project:secret' })).error?.code).toBe(ErrorCode.PermissionDenied.code);
    expect((await c.call('publish', { channel: 'chat:1', data: {} })).error?.code).toBe(ErrorCode.PermissionDenied.code);
    expect((await c.call('subscribe', { channel: 'other|project:1' })).error?.code).toBe(ErrorCode.InvalidChannel.code);
    c.close();
    await audit().flush();
    const rows = (await list(`type=channel.forbidden&${since(t0)}`)).entries;
    expect(rows.find((e) => e.detail['action'] === 'subscribe' && e.detail['reason'] === 'permission')).toMatchObject({
      user: 'eve',
      count: 2,
      detail: { channel: 'project:secret' },
    });
    expect(rows.find((e) => e.detail['action'] === 'publish')).toMatchObject({ count: 1, detail: { channel: 'chat:1' } });
    expect(rows.find((e) => e.detail['reason'] === 'cross_tenant')).toMatchObject({ count: 1, detail: { channel: 'other|project:1' } });
    await eventually(
      async () => {
        await s.server.jobs.poll();
        return r.events().length === 3;
      },
      5000,
      'three verified audit events',
    );
    const delivered = r.events().map((e) => e.verified?.data as Entry);
    expect(r.events().every((e) => e.verified?.type === 'audit.channel.forbidden')).toBe(true);
    expect(delivered.map((d) => d.id).sort()).toEqual(rows.map((e) => e.id).sort());
    await s.api('DELETE', `/webhooks/endpoints/${(created.body as { id: string }).id}`);
    await r.close();
  });

  it('records bad-signature, expired and wrong-audience tokens aggregated, with a fingerprint and never the token', async () => {
    await nextMinute();
    const t0 = clock.now() - (clock.now() % 60_000);
    const good = await token('ann');
    const [header, payload] = good.split('.');
    const forged = `${header}.${payload}.${Buffer.from('not the signature at all, forged').toString('base64url')}`;
    for (let i = 0; i < 3; i++) expect((await refused(forged))?.code).toBe(ErrorCode.Unauthorized.code);
    const expiring = await token('bob', { ttlSeconds: 60 });
    const other = await new SignJWT({ tenant: 'acme', caps: CAPS })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('cy')
      .setAudience('another-app')
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .setExpirationTime(Math.floor(clock.now() / 1000) + 600)
      .sign(new TextEncoder().encode(s.server.secret as string));
    clock.advance(50_000);
    // Still in the same minute window: expired by now (60 s + the clock skew have not passed, so move past it).
    clock.advance(10_000 + 60_000);
    expect((await refused(expiring))?.code).toBe(ErrorCode.TokenExpired.code);
    expect((await refused(expiring))?.code).toBe(ErrorCode.TokenExpired.code);
    expect((await refused(other))?.code).toBe(ErrorCode.Unauthorized.code);
    await audit().flush();

    const sys = (await system(`type=auth.failed&${since(t0)}`)).entries;
    const bad = sys.find((e) => e.detail['reason'] === 'bad_signature');
    expect(bad).toMatchObject({
      tenant: null,
      user: null,
      ip: '127.0.0.1',
      count: 3,
      detail: { fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/), command: 'connect' },
    });
    const mine = (await list(`type=auth.failed&${since(t0)}`)).entries;
    expect(mine.find((e) => e.detail['reason'] === 'expired')).toMatchObject({ tenant: 'acme', user: 'bob', count: 2, ip: '127.0.0.1' });
    expect(mine.find((e) => e.detail['reason'] === 'wrong_audience')).toMatchObject({ tenant: 'acme', user: 'cy', count: 1 });
    expect(
      mine.some((e) => e.detail['reason'] === 'bad_signature'),
      'a forged token names no verified tenant',
    ).toBe(false);
    const all = JSON.stringify([sys, mine]);
    for (const t of [forged, expiring, other]) {
      expect(all).not.toContain(t);
      expect(all).not.toContain(t.split('.')[2] as string);
    }
  });

  it('a flood of 500 forged tokens from one IP writes at most the per-IP cap of rows, and the counts add up', async () => {
    await nextMinute();
    const t0 = clock.now() - (clock.now() % 60_000);
    const before = await metric('switchboard_audit_rows_written_total');
    const good = await token('flood');
    const [header, payload] = good.split('.');
    const N = 500;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < N; i = next++) {
        const { c, reply } = await connect(`${header}.${payload}.${Buffer.from(`forged-${i}-${'x'.repeat(20)}`).toString('base64url')}`);
        expect(reply.error?.code).toBe(ErrorCode.Unauthorized.code);
        c.close();
      }
    };
    await Promise.all(Array.from({ length: 25 }, worker));
    const written = await audit().flush();
    expect(written).toBeLessThanOrEqual(20);
    const rows = (await system(`ip=127.0.0.1&${since(t0)}&limit=100`)).entries;
    expect(rows.length).toBeLessThanOrEqual(20);
    expect(rows.reduce((n, e) => n + e.count, 0)).toBe(N);
    const overflow = rows.find((e) => e.type === 'audit.overflow');
    expect(overflow).toMatchObject({ ip: '127.0.0.1', detail: { reason: 'ip', types: { 'auth.failed': overflow?.count } } });
    expect(overflow?.count).toBe(N - 19);
    expect((await metric('switchboard_audit_rows_written_total')) - before).toBe(written);
    expect(await metric('switchboard_audit_events_dropped_total', 'reason="ip_cap"')).toBeGreaterThanOrEqual(N - 19);
    // 500 handshakes: on a machine shared with other work they may take longer than the default 20 s.
  }, 60_000);

  it('aggregates rate-limit refusals: one row per minute with their count, never one per refused frame', async () => {
    await nextMinute();
    const t0 = clock.now() - (clock.now() % 60_000);
    const { c, reply } = await connect(await token('rita'));
    expect(reply.error).toBeUndefined();
    // commandsPerSecond 5: a burst of 10 passes (the connect took one), the rest of 15 are refused.
    const ids = Array.from({ length: 15 }, () => c.send('ping', {}));
    await c.until(() => ids.every((id) => c.frames.some((f) => f.id === id)), 5000, 'every ping answered');
    const refusedCount = c.frames.filter((f) => ids.includes(f.id as number) && f.error?.code === ErrorCode.TooManyRequests.code).length;
    expect(refusedCount).toBeGreaterThan(1);
    c.close();
    await c.waitClose();
    await eventually(async () => (await audit().flush()) >= 0, 1000, 'flushed');
    await audit().flush();
    const rows = (await list(`type=limit.rate&user=rita&${since(t0)}`)).entries;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ type: 'limit.rate', tenant: 'acme', user: 'rita', ip: '127.0.0.1', count: refusedCount, detail: { limit: 'commands' } });
  });

  it('records admin actions and API key use, creation and revocation', async () => {
    await nextMinute();
    const t0 = clock.now() - (clock.now() % 60_000);
    const { c } = await connect(await token('dora'));
    expect((await c.call('subscribe', { channel: 'project:1' })).error).toBeUndefined();
    expect((await s.api('POST', '/users/dora/unsubscribe', { body: { channel: 'project:1' } })).status).toBe(200);
    expect((await s.api('POST', '/users/dora/disconnect', { key: s.apiKey, tenant: 'acme' })).status).toBe(200);
    await c.waitClose();
    const r = await WebhookReceiver.start();
    const created = await s.api('POST', '/webhooks/endpoints', { body: { url: r.url, events: ['webhook.test'] } });
    expect(created.status, created.text).toBe(201);
    const id = (created.body as { id: string }).id;
    expect((await s.api('DELETE', `/webhooks/endpoints/${id}`)).status).toBe(200);
    await r.close();
    const key = createStoredApiKey(s.dataDir, 'acme');
    expect((await s.api('GET', '/stats', { key: key.key })).status).toBe(200);
    revokeStoredApiKey(s.dataDir, key.id);
    await eventually(async () => (await s.api('GET', '/stats', { key: key.key })).status === 401, 5000, 'the revoked key refused');
    await s.api('GET', '/stats');
    await audit().flush();
    const admin = (await list(`type=admin.*&${since(t0)}`)).entries;
    const types = admin.map((e) => e.type);
    for (const t of [
      'admin.subscription_removed',
      'admin.user_disconnected',
      'admin.webhook_created',
      'admin.webhook_deleted',
      'admin.apikey_created',
      'admin.apikey_revoked',
    ])
      expect(types, t).toContain(t);
    expect(admin.find((e) => e.type === 'admin.subscription_removed')).toMatchObject({
      tenant: 'acme',
      count: 1,
      detail: { target: { user: 'dora', channel: 'project:1' } },
    });
    expect(admin.find((e) => e.type === 'admin.user_disconnected')?.detail['actor']).toEqual({ keyId: expect.any(String) });
    expect(admin.find((e) => e.type === 'admin.webhook_created')?.detail['target']).toMatchObject({ endpointId: id });
    expect(admin.find((e) => e.type === 'admin.apikey_revoked')?.detail['target']).toEqual({ keyId: key.id });
    const used = (await list(`type=apikey.used&${since(t0)}`)).entries;
    const acmeKey = used.find((e) => e.detail['admin'] === false && e.detail['keyId'] !== key.id);
    expect(acmeKey?.count, 'the tenant key, one row for the minute').toBeGreaterThanOrEqual(4);
    expect(used.find((e) => e.detail['admin'] === true)).toBeDefined();
    const failed = (await system(`type=apikey.failed&${since(t0)}`)).entries;
    expect(failed.find((e) => e.detail['reason'] === 'invalid')?.count).toBeGreaterThanOrEqual(1);
  });

  it("answers a tenant only its own entries; an admin key reads any tenant's", async () => {
    await nextMinute();
    const t0 = clock.now() - (clock.now() % 60_000);
    const { c } = await connect(await token('canary-b-91ac', { tenant: 'other', caps: { 'chat:*': ['subscribe'] } }));
    expect((await c.call('subscribe', { channel: 'project:canary-b-91ac' })).error?.code).toBe(ErrorCode.PermissionDenied.code);
    c.close();
    await audit().flush();
    const a = await s.api('GET', `/audit?${since(t0)}`);
    expect(a.text).not.toContain('canary-b-91ac');
    expect(a.status).toBe(200);
    expectApiError(await s.api('GET', '/audit', { tenant: 'other' }), 403, ErrorCode.PermissionDenied.code);
    expectApiError(await s.api('GET', '/audit/system'), 403, ErrorCode.PermissionDenied.code);
    const b = await list(`type=channel.forbidden&${since(t0)}`, { key: s.tenantKeys['other'] as string });
    expect(b.entries[0]).toMatchObject({ tenant: 'other', user: 'canary-b-91ac' });
    const admin = await list(`type=channel.forbidden&${since(t0)}`, { key: s.apiKey, tenant: 'other' });
    expect(admin.entries.map((e) => e.id)).toEqual(b.entries.map((e) => e.id));
  });

  it('filters and pages with an opaque cursor; bad cursors, ranges and filters are typed errors', async () => {
    await nextMinute();
    const t0 = clock.now() - (clock.now() % 60_000);
    for (let i = 0; i < 5; i++) {
      const { c } = await connect(await token(`pager${i}`, { caps: { 'chat:*': ['subscribe'] } }));
      await c.call('subscribe', { channel: 'project:page' });
      c.close();
    }
    await audit().flush();
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page = await list(`type=channel.forbidden&${since(t0)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.entries.length).toBeLessThanOrEqual(2);
      seen.push(...page.entries.map((e) => e.user as string));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.sort()).toEqual(['pager0', 'pager1', 'pager2', 'pager3', 'pager4']);
    expect((await list(`user=pager3&${since(t0)}`)).entries.map((e) => e.user)).toEqual(['pager3']);
    expect((await list(`type=channel.forbidden&to=${t0 - 1}&from=${t0 - 60_000}`)).entries.some((e) => e.user?.startsWith('pager'))).toBe(false);
    expectApiError(await s.api('GET', `/audit?from=${t0}&to=${t0 - 1}`), 400, ErrorCode.InvalidRange.code);
    expectApiError(await s.api('GET', '/audit?cursor=bm90LWEtY3Vyc29y'), 400, ErrorCode.BadRequest.code, /cursor/);
    expectApiError(await s.api('GET', '/audit?from=yesterday'), 400, ErrorCode.BadRequest.code);
    expectApiError(await s.api('GET', '/audit?type=Auth%20Failed'), 400, ErrorCode.BadRequest.code);
    expectApiError(await s.api('GET', '/audit?limit=100000'), 400, ErrorCode.BadRequest.code);
  });

  it('sweeps entries older than the retention with the job runner, on the server clock', async () => {
    await nextMinute();
    const { c } = await connect(await token('old', { caps: { 'chat:*': ['subscribe'] } }));
    await c.call('subscribe', { channel: 'project:old' });
    c.close();
    await audit().flush();
    expect((await list('user=old')).entries).toHaveLength(1);
    clock.advance(89 * 86_400_000);
    await s.server.jobs.poll();
    const { c: c2 } = await connect(await token('young', { caps: { 'chat:*': ['subscribe'] } }));
    await c2.call('subscribe', { channel: 'project:young' });
    c2.close();
    await audit().flush();
    expect((await list('user=old')).entries, 'kept at 89 days').toHaveLength(1);
    clock.advance(2 * 86_400_000);
    await s.server.jobs.poll();
    await eventually(async () => (await list('user=old')).entries.length === 0, 5000, 'swept after 90 days');
    expect((await list('user=young')).entries).toHaveLength(1);
  });

  async function metric(name: string, labels?: string): Promise<number> {
    const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      if (labels && !line.includes(labels)) continue;
      sum += Number(line.split(' ').pop());
    }
    return sum;
  }
});
