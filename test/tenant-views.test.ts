import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * `GET /api/v1/users/{user}/presence` (where a user is present in the tenant) and
 * `GET /api/v1/stats` (the tenant's live numbers), on one node and over two nodes on
 * Redis; another tenant's users, channels and traffic never appear.
 */

async function get(s: TestServer, path: string, tenant = 'acme'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${s.httpUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${s.tenantKeys[tenant]}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const clients: RawClient[] = [];
async function connect(s: TestServer, sub: string, tenant = 'acme'): Promise<RawClient> {
  const c = await RawClient.connect(s.url, await s.token({ sub, tenant }));
  clients.push(c);
  return c;
}
async function present(c: RawClient, channel: string): Promise<void> {
  expect((await c.call('subscribe', { channel })).error).toBeUndefined();
  expect((await c.call('presence_set', { channel, state: { here: true } })).error).toBeUndefined();
}

afterAll(() => {
  for (const c of clients) c.close();
});

describe('tenant views on one node', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  it('answers where a user is present: devices, their status and channels; offline users and other tenants are empty', async () => {
    const phone = await connect(s, 'alice');
    const laptop = await connect(s, 'alice');
    await present(phone, 'chat:a');
    await present(laptop, 'chat:b');
    await present(laptop, 'chat:a');
    expect((await laptop.call('subscribe', { channel: 'project:quiet' })).error).toBeUndefined();
    expect((await phone.call('status', { status: 'away' })).error).toBeUndefined();
    // The same user name in another tenant is a different user.
    await present(await connect(s, 'alice', 'other'), 'chat:secret');
    const { status, body } = await get(s, '/users/alice/presence');
    expect(status).toBe(200);
    expect(body).toMatchObject({ user: 'alice', online: true, status: 'online', channels: ['chat:a', 'chat:b'], complete: true });
    const devices = body['devices'] as Array<Record<string, unknown>>;
    expect(devices.map((d) => [d['client'], d['status'], d['channels']])).toEqual([
      [phone.info['client'], 'away', ['chat:a']],
      [laptop.info['client'], 'online', ['chat:a', 'chat:b']],
    ]);
    expect((await get(s, '/users/nobody/presence')).body).toEqual({ user: 'nobody', online: false, status: null, channels: [], devices: [], complete: true });
    expect((await get(s, '/users/alice/presence', 'other')).body).toMatchObject({ channels: ['chat:secret'] });
  });

  it("answers the tenant's numbers, and counts messages per second", async () => {
    const t = `t${randomBytes(3).toString('hex')}`;
    const before = await get(s, '/stats', 'demo');
    expect(before.status).toBe(200);
    const a = await connect(s, 'dora', 'demo');
    const b = await connect(s, 'dora', 'demo');
    const c = await connect(s, 'eve', 'demo');
    for (const x of [a, b, c]) expect((await x.call('subscribe', { channel: `chat:${t}` })).error).toBeUndefined();
    expect((await a.call('subscribe', { channel: `project:${t}` })).error).toBeUndefined();
    const stats = (await get(s, '/stats', 'demo')).body;
    const base = before.body as Record<string, number>;
    expect(stats).toMatchObject({
      connections: base['connections'] + 3,
      usersOnline: base['usersOnline'] + 2,
      channels: base['channels'] + 2,
      subscriptions: base['subscriptions'] + 4,
      nodes: 1,
      complete: true,
    });
    // Traffic: publications fan out to three connections; the 5 s average becomes positive.
    for (let i = 0; i < 5; i++) expect((await a.call('publish', { channel: `chat:${t}`, data: i })).error).toBeUndefined();
    await vi.waitFor(
      async () => {
        const now = (await get(s, '/stats', 'demo')).body as Record<string, number>;
        expect(now['messagesInPerSecond']).toBeGreaterThan(0);
        expect(now['messagesOutPerSecond']).toBeGreaterThan(0);
      },
      { timeout: 10_000, interval: 200 },
    );
    // The other tenant counts only its own.
    const other = (await get(s, '/stats', 'other')).body;
    expect(other).toMatchObject({ connections: 1, usersOnline: 1 });
  });
});

describe('tenant views over two nodes on Redis', () => {
  const redis = { redis: 'redis://127.0.0.1:6379', redisPrefix: `sbviews-${randomBytes(4).toString('hex')}` };
  const secret = randomBytes(32).toString('hex');
  let n1: TestServer;
  let n2: TestServer;
  beforeAll(async () => {
    n1 = await startTestServer({ ...redis, auth: { secret }, nodeId: 'n1' });
    n2 = await startTestServer({ ...redis, auth: { secret }, nodeId: 'n2' });
  });
  afterAll(async () => {
    await Promise.all([n1.close(), n2.close()]);
  });

  it("a user's connections on both nodes appear from either node, and the numbers are summed", async () => {
    const onA = await connect(n1, 'frank');
    const onB = await connect(n2, 'frank');
    const gina = await connect(n2, 'gina');
    await present(onA, 'chat:one');
    await present(onB, 'chat:two');
    expect((await gina.call('subscribe', { channel: 'chat:one' })).error).toBeUndefined();
    for (const s of [n1, n2]) {
      const body = (await get(s, '/users/frank/presence')).body;
      expect(body).toMatchObject({ online: true, channels: ['chat:one', 'chat:two'], complete: true });
      expect((body['devices'] as Array<Record<string, unknown>>).map((d) => d['node']).sort()).toEqual(['n1', 'n2']);
    }
    const stats = (await get(n1, '/stats')).body;
    expect(stats).toMatchObject({ connections: 3, usersOnline: 2, channels: 2, subscriptions: 3, nodes: 2, complete: true });
  });
});
