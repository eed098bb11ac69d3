import { randomBytes } from 'node:crypto';
import { DisconnectCode, ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Per-tenant quotas on one node: from the config file and over the admin-key HTTP routes
 * (stored, kept across restarts), each enforced with the limit's existing typed error for
 * the tenant at its quota while another tenant, side by side, is not held back; usage
 * against each quota in `GET /api/v1/stats`.
 */

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function api(s: TestServer, method: string, path: string, opts: { key?: string; tenant?: string; body?: unknown } = {}): Promise<Reply> {
  const headers: Record<string, string> = { authorization: `Bearer ${opts.key ?? s.apiKey}` };
  if (opts.tenant) headers['x-switchboard-tenant'] = opts.tenant;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${s.httpUrl}/api/v1${path}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

const clients: RawClient[] = [];
async function connect(s: TestServer, sub: string, tenant: string): Promise<RawClient> {
  const c = await RawClient.connect(s.url, await s.token({ sub, tenant }));
  clients.push(c);
  return c;
}

/** A connect the tenant's connection quota refuses: 106 in the reply, then close 3503. */
async function refusedConnect(s: TestServer, sub: string, tenant: string): Promise<void> {
  const c = await RawClient.open(s.url);
  clients.push(c);
  const reply = await c.call('connect', { token: await s.token({ sub, tenant }) });
  expect(reply.error).toMatchObject({ code: ErrorCode.LimitExceeded.code, message: expect.stringContaining('connections per tenant') });
  expect(await c.waitClose()).toBe(DisconnectCode.ConnectionLimit.code);
}

const fresh = (name: string) => `${name}${randomBytes(3).toString('hex')}`;

afterAll(() => {
  for (const c of clients) c.close();
});

describe('quotas from the config file', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({
      tenants: { acme: { quotas: { connections: 2, presenceMembers: 1, publishesPerMinute: 1, notifications: 2, activity: 1 } } },
    });
  });
  afterAll(async () => {
    await s.close();
  });

  it('connections: the tenant at its quota is refused with 106 and close 3503; another tenant connects on', async () => {
    await connect(s, 'a1', 'acme');
    await connect(s, 'a2', 'acme');
    await refusedConnect(s, 'a3', 'acme');
    for (const u of ['d1', 'd2', 'd3']) await connect(s, u, 'demo');
    const acme = (await api(s, 'GET', '/stats', { key: s.tenantKeys['acme'] })).body['quotas'] as Record<string, unknown>;
    expect(acme['connections']).toEqual({ used: 2, limit: 2 });
    const demo = (await api(s, 'GET', '/stats', { key: s.tenantKeys['demo'] })).body['quotas'] as Record<string, unknown>;
    expect(demo['connections']).toEqual({ used: 3, limit: 100_000 });
    expect(demo['publishesPerMinute']).toEqual({ used: 0, limit: null });
  });

  it('presence members: the second member of a channel of the tenant is refused with 106; the other tenant has two', async () => {
    const channel = `chat:${fresh('p')}`;
    const [a, b] = clients.filter((c) => c.info['client']).slice(0, 2) as [RawClient, RawClient];
    for (const c of [a, b]) expect((await c.call('subscribe', { channel })).error).toBeUndefined();
    expect((await a.call('presence_set', { channel, state: { at: 1 } })).error).toBeUndefined();
    expect((await b.call('presence_set', { channel, state: { at: 2 } })).error).toMatchObject({
      code: ErrorCode.LimitExceeded.code,
      message: expect.stringContaining('presence members'),
    });
    const d1 = await connect(s, 'd4', 'demo');
    const d2 = await connect(s, 'd5', 'demo');
    for (const c of [d1, d2]) {
      expect((await c.call('subscribe', { channel })).error).toBeUndefined();
      expect((await c.call('presence_set', { channel, state: {} })).error).toBeUndefined();
    }
    const stats = (await api(s, 'GET', '/stats', { key: s.tenantKeys['acme'] })).body['quotas'] as Record<string, unknown>;
    expect(stats['presenceMembers']).toEqual({ used: null, limit: 1 });
  });

  it('publishes per minute: over WebSocket and HTTP the tenant gets 111 with a retry delay; the other tenant publishes on', async () => {
    const [a] = clients.filter((c) => c.info['client']) as [RawClient];
    const channel = `project:${fresh('q')}`;
    expect((await a.call('publish', { channel, data: 1 })).error).toBeUndefined();
    const refused = await a.call('publish', { channel, data: 2 });
    expect(refused.error).toMatchObject({
      code: ErrorCode.TooManyRequests.code,
      temporary: true,
      message: expect.stringContaining('publishes per minute of the tenant'),
    });
    expect((refused.error as { retryAfter: number }).retryAfter).toBeGreaterThan(0);
    const http = await api(s, 'POST', '/publish', { key: s.tenantKeys['acme'], body: { channel, data: 3 } });
    expect(http.status).toBe(429);
    expect(http.body['error']).toMatchObject({ code: ErrorCode.TooManyRequests.code });
    expect(Number(http.headers.get('retry-after'))).toBeGreaterThan(0);
    const d = await connect(s, 'd6', 'demo');
    for (let i = 0; i < 5; i++) expect((await d.call('publish', { channel, data: i })).error).toBeUndefined();
    expect((await api(s, 'POST', '/publish', { key: s.tenantKeys['demo'], body: { channel, data: 'x' } })).status).toBe(200);
    const acme = (await api(s, 'GET', '/stats', { key: s.tenantKeys['acme'] })).body['quotas'] as Record<string, unknown>;
    expect(acme['publishesPerMinute']).toEqual({ used: 1, limit: 1 });
    const demo = (await api(s, 'GET', '/stats', { key: s.tenantKeys['demo'] })).body['quotas'] as Record<string, unknown>;
    expect(demo['publishesPerMinute']).toEqual({ used: 6, limit: null });
  });

  it('notification rows: a send that would pass the quota is refused whole with 422 / 106; the other tenant sends on', async () => {
    const send = (tenant: string, users: string[]) =>
      api(s, 'POST', '/notifications', { key: s.tenantKeys[tenant], body: { users, type: 'mention', title: `to ${users.join(',')}` } });
    expect((await send('acme', ['ann'])).status).toBe(201);
    const over = await send('acme', ['bob', 'cy']);
    expect(over.status).toBe(422);
    expect(over.body['error']).toMatchObject({ code: ErrorCode.LimitExceeded.code, message: expect.stringContaining('notifications stored') });
    expect((await send('acme', ['bob'])).status).toBe(201);
    expect((await send('acme', ['cy'])).status).toBe(422);
    expect((await api(s, 'GET', '/notifications?user=cy', { key: s.tenantKeys['acme'] })).body['notifications']).toEqual([]);
    for (let i = 0; i < 3; i++) expect((await send('demo', ['ann', 'bob'])).status).toBe(201);
    const acme = (await api(s, 'GET', '/stats', { key: s.tenantKeys['acme'] })).body['quotas'] as Record<string, unknown>;
    expect(acme['notifications']).toEqual({ used: 2, limit: 2 });
  });

  it('activity rows: the record past the quota is refused with 422 / 106; the other tenant records on', async () => {
    const record = (tenant: string, actor: string) =>
      api(s, 'POST', '/activities', { key: s.tenantKeys[tenant], body: { scope: 'project:1', actor, verb: 'edited', object: 'doc' } });
    expect((await record('acme', 'ann')).status).toBe(201);
    const over = await record('acme', 'bob');
    expect(over.status).toBe(422);
    expect(over.body['error']).toMatchObject({ code: ErrorCode.LimitExceeded.code, message: expect.stringContaining('activity stored') });
    for (const actor of ['ann', 'bob', 'cy']) expect((await record('demo', actor)).status).toBe(201);
    const acme = (await api(s, 'GET', '/stats', { key: s.tenantKeys['acme'] })).body['quotas'] as Record<string, unknown>;
    expect(acme['activity']).toEqual({ used: 1, limit: 1 });
  });
});

describe('quotas over the admin-key HTTP routes', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ tenants: { acme: { quotas: { connections: 5, presenceMembers: 7 } } } });
  });
  afterAll(async () => {
    await s.close();
  });

  it('answers the configured, stored and effective quotas; stored ones win key by key; DELETE brings the config back', async () => {
    const before = await api(s, 'GET', '/tenants/acme/quotas');
    expect(before.status).toBe(200);
    expect(before.body).toEqual({
      tenant: 'acme',
      config: { connections: 5, presenceMembers: 7 },
      stored: {},
      effective: { connections: 5, publishesPerMinute: null, presenceMembers: 7, notifications: null, activity: null },
    });
    const put = await api(s, 'PUT', '/tenants/acme/quotas', { body: { connections: 1, activity: 10 } });
    expect(put.status).toBe(200);
    expect(put.body['effective']).toEqual({ connections: 1, publishesPerMinute: null, presenceMembers: 7, notifications: null, activity: 10 });
    expect(put.body['stored']).toEqual({ connections: 1, activity: 10 });
    const removed = await api(s, 'DELETE', '/tenants/acme/quotas');
    expect(removed.body['stored']).toEqual({});
    expect(removed.body['effective']).toMatchObject({ connections: 5, activity: null });
  });

  it('a stored quota applies at once, without a restart, to its tenant only', async () => {
    const tenant = fresh('t');
    await connect(s, 'u1', tenant);
    await connect(s, 'u2', tenant);
    expect((await api(s, 'PUT', `/tenants/${tenant}/quotas`, { body: { connections: 2 } })).status).toBe(200);
    await refusedConnect(s, 'u3', tenant);
    for (const u of ['x1', 'x2', 'x3']) await connect(s, u, 'demo');
    const stats = await api(s, 'GET', '/stats', { tenant });
    expect((stats.body['quotas'] as Record<string, unknown>)['connections']).toEqual({ used: 2, limit: 2 });
    // Raised again: the next connection is let in.
    expect((await api(s, 'PUT', `/tenants/${tenant}/quotas`, { body: { connections: 3 } })).status).toBe(200);
    await connect(s, 'u3', tenant);
  });

  it('a tenant key cannot read, raise or remove quotas, not even its own (403, nothing changes)', async () => {
    await api(s, 'PUT', '/tenants/demo/quotas', { body: { connections: 4 } });
    const key = s.tenantKeys['demo'] as string;
    for (const [method, body] of [['GET'], ['PUT', { connections: 1_000_000 }], ['DELETE']] as Array<[string, unknown?]>) {
      const res = await api(s, method, '/tenants/demo/quotas', { key, ...(body ? { body } : {}) });
      expect(res.status, method).toBe(403);
      expect(res.body['error']).toMatchObject({ code: ErrorCode.PermissionDenied.code });
    }
    expect((await api(s, 'GET', '/tenants/demo/quotas')).body['stored']).toEqual({ connections: 4 });
  });
});

describe('stored quotas across a restart', () => {
  it('are read back by the next server on the same data', async () => {
    const first = await startTestServer();
    const tenant = fresh('r');
    try {
      expect((await api(first, 'PUT', `/tenants/${tenant}/quotas`, { body: { connections: 1, publishesPerMinute: 600 } })).status).toBe(200);
    } finally {
      await first.server.close();
    }
    const second = await startTestServer({ keepDataDir: first.dataDir });
    try {
      second.apiKey = second.server.devAdminKey as string;
      expect((await api(second, 'GET', `/tenants/${tenant}/quotas`)).body['stored']).toEqual({ connections: 1, publishesPerMinute: 600 });
      await connect(second, 'v1', tenant);
      await refusedConnect(second, 'v2', tenant);
    } finally {
      await second.close();
      await first.close();
    }
  });
});
