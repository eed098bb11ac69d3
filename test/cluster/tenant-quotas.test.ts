import { randomBytes } from 'node:crypto';
import { DisconnectCode, ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../durable/helpers.js';
import { eventually } from '../helpers/eventually.js';
import { RawClient } from '../helpers/raw-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { dropPrefix } from './drop-prefix.js';

/**
 * Per-tenant quotas over two nodes on one Redis and one PostgreSQL database: connection
 * slots, the publish bucket and presence members hold across the nodes for the tenant at
 * its quota while another tenant is not held back, and a quota changed over the HTTP API
 * of one node applies on the other without a restart (told over the node messages).
 */

const prefix = `sbquota-${randomBytes(4).toString('hex')}`;
const secret = randomBytes(32).toString('hex');
const clients: RawClient[] = [];

async function connect(s: TestServer, sub: string, tenant: string): Promise<RawClient> {
  const c = await RawClient.connect(s.url, await s.token({ sub, tenant }));
  clients.push(c);
  return c;
}

async function refusedConnect(s: TestServer, sub: string, tenant: string): Promise<void> {
  const c = await RawClient.open(s.url);
  clients.push(c);
  const reply = await c.call('connect', { token: await s.token({ sub, tenant }) });
  expect(reply.error).toMatchObject({ code: ErrorCode.LimitExceeded.code, message: expect.stringContaining('connections per tenant') });
  expect(await c.waitClose()).toBe(DisconnectCode.ConnectionLimit.code);
}

async function api(s: TestServer, method: string, path: string, opts: { tenant?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${s.apiKey}` };
  if (opts.tenant) headers['x-switchboard-tenant'] = opts.tenant;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${s.httpUrl}/api/v1${path}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('tenant quotas over two nodes on Redis', () => {
  let db: TestDatabase;
  let n1: TestServer;
  let n2: TestServer;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const config = {
      redis: 'redis://127.0.0.1:6379',
      redisPrefix: prefix,
      database: db.database,
      auth: { secret },
      tenants: { acme: { quotas: { connections: 2, publishesPerMinute: 1, presenceMembers: 1 } } },
    };
    n1 = await startTestServer({ ...config, nodeId: 'q1' });
    n2 = await startTestServer({ ...config, nodeId: 'q2' });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([n1?.close(), n2?.close()]);
    await db?.drop();
    await dropPrefix('redis://127.0.0.1:6379', prefix);
  });

  it('connections, publishes and presence members hold across the nodes for the tenant at its quota; the other tenant goes on', async () => {
    const a1 = await connect(n1, 'ann', 'acme');
    const a2 = await connect(n2, 'bob', 'acme');
    await refusedConnect(n1, 'cy', 'acme');
    await refusedConnect(n2, 'cy', 'acme');
    const demo = [await connect(n1, 'dan', 'demo'), await connect(n2, 'eve', 'demo'), await connect(n2, 'fay', 'demo')];

    const channel = `chat:${randomBytes(3).toString('hex')}`;
    expect((await a1.call('publish', { channel, data: 1 })).error).toBeUndefined();
    const refused = await a2.call('publish', { channel, data: 2 });
    expect(refused.error).toMatchObject({ code: ErrorCode.TooManyRequests.code, temporary: true });
    expect((refused.error as { retryAfter: number }).retryAfter).toBeGreaterThan(0);
    for (const d of demo) expect((await d.call('publish', { channel, data: 'demo' })).error).toBeUndefined();

    for (const c of [a1, a2, ...demo]) expect((await c.call('subscribe', { channel })).error).toBeUndefined();
    expect((await a1.call('presence_set', { channel, state: {} })).error).toBeUndefined();
    expect((await a2.call('presence_set', { channel, state: {} })).error).toMatchObject({ code: ErrorCode.LimitExceeded.code });
    for (const d of demo) expect((await d.call('presence_set', { channel, state: {} })).error).toBeUndefined();

    const stats = (await api(n2, 'GET', '/stats', { tenant: 'acme' })).body['quotas'] as Record<string, unknown>;
    expect(stats['connections']).toEqual({ used: 2, limit: 2 });
    expect(stats['publishesPerMinute']).toEqual({ used: 1, limit: 1 });
    const other = (await api(n1, 'GET', '/stats', { tenant: 'demo' })).body['quotas'] as Record<string, unknown>;
    expect(other['connections']).toEqual({ used: 3, limit: 100_000 });
    expect(other['publishesPerMinute']).toEqual({ used: 3, limit: null });
  });

  it('a quota stored on one node applies on the other without a restart, and so does its removal', async () => {
    const tenant = `q${randomBytes(3).toString('hex')}`;
    expect((await api(n1, 'PUT', `/tenants/${tenant}/quotas`, { body: { connections: 1 } })).status).toBe(200);
    // Told over the node messages: far sooner than the 30 s reread.
    await eventually(
      async () => ((await api(n2, 'GET', `/tenants/${tenant}/quotas`)).body['effective'] as Record<string, unknown>)['connections'] === 1,
      5000,
      'the other node to apply the stored quota',
    );
    await connect(n1, 'u1', tenant);
    await refusedConnect(n2, 'u2', tenant);
    await connect(n2, 'u2', 'demo');
    expect((await api(n2, 'DELETE', `/tenants/${tenant}/quotas`)).status).toBe(200);
    await eventually(
      async () => ((await api(n1, 'GET', `/tenants/${tenant}/quotas`)).body['effective'] as Record<string, unknown>)['connections'] === 100_000,
      5000,
      'the first node to drop the removed quota',
    );
    await connect(n1, 'u3', tenant);
  });
});
