import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Server-side subscriptions: the token's `subs` claim subscribes a connection at connect
 * (with recovery from the positions given in `connect`), and `POST /api/v1/users/{user}/subscribe`
 * (or `POST /api/v1/subscribe`) subscribes a user's live connections on every node. Both
 * apply the namespace's rules and the token's capabilities; other tenants are never touched.
 */

async function api(s: TestServer, path: string, body: unknown, tenant = 'acme'): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${s.httpUrl}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.tenantKeys[tenant]}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function connectWith(s: TestServer, claims: Parameters<TestServer['token']>[0], params: Record<string, unknown> = {}): Promise<RawClient> {
  const c = await RawClient.open(s.url);
  const reply = await c.call('connect', { token: await s.token(claims), ...params });
  expect(reply.error).toBeUndefined();
  c.info = reply.result as Record<string, unknown>;
  return c;
}

const CAPS = { 'project:*': ['subscribe', 'publish', 'history'], 'chat:*': ['subscribe', 'publish'] };

describe('server-side subscriptions on one node', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  it("subscribes the token's subs at connect: a subscribe push with the position, then publications; refused channels get a push with the error", async () => {
    const c = await connectWith(s, { sub: 'ann', caps: CAPS, subs: ['project:feed', 'chat:room', 'secret:x', 'user:ann', 'analytics:nope'] });
    await vi.waitFor(() => expect(c.pushes('subscribe')).toHaveLength(5));
    const byChannel = new Map(c.pushes('subscribe').map((p) => [p['channel'], p]));
    expect(byChannel.get('project:feed')).toMatchObject({ epoch: expect.any(String), offset: 0, recoverable: true });
    expect(byChannel.get('chat:room')).toMatchObject({ offset: 0 });
    expect(byChannel.get('secret:x')).toMatchObject({ error: { code: 102 } });
    // user: is an owner namespace: user:ann is ann's own channel.
    expect(byChannel.get('user:ann')).toMatchObject({ offset: 0 });
    // analytics: caps do not name it.
    expect(byChannel.get('analytics:nope')).toMatchObject({ error: { code: 103 } });
    expect((await api(s, '/publish', { channel: 'project:feed', data: 'hello' })).status).toBe(200);
    await vi.waitFor(() => expect(c.pushes('pub', 'project:feed').map((p) => p['data'])).toEqual(['hello']));
    // The subscription is an ordinary one: the client may leave it.
    expect((await c.call('unsubscribe', { channel: 'project:feed' })).error).toBeUndefined();
    expect((await c.call('subscribe', { channel: 'chat:room' })).error).toMatchObject({ code: 105 });
    c.close();
  });

  it('recovers missed publications at reconnect from the positions given in connect', async () => {
    const first = await connectWith(s, { sub: 'bea', caps: CAPS, subs: ['project:rec'] });
    await vi.waitFor(() => expect(first.pushes('subscribe')).toHaveLength(1));
    expect((await api(s, '/publish', { channel: 'project:rec', data: 1 })).status).toBe(200);
    await vi.waitFor(() => expect(first.pushes('pub', 'project:rec')).toHaveLength(1));
    const last = first.pushes('pub', 'project:rec')[0] as { offset: number; epoch: string };
    first.close();
    for (const n of [2, 3]) expect((await api(s, '/publish', { channel: 'project:rec', data: n })).status).toBe(200);
    const again = await connectWith(
      s,
      { sub: 'bea', caps: CAPS, subs: ['project:rec'] },
      {
        subs: { 'project:rec': { offset: last.offset, epoch: last.epoch } },
      },
    );
    await vi.waitFor(() => expect(again.pushes('subscribe')).toHaveLength(1));
    const push = again.pushes('subscribe')[0] as Record<string, unknown>;
    expect(push).toMatchObject({ channel: 'project:rec', recovered: true, offset: 3 });
    expect((push['publications'] as Array<{ data: unknown }>).map((p) => p.data)).toEqual([2, 3]);
    again.close();
  });

  it('connect subs alone restore a subscription (checked like subscribe), and a bad position shape is refused', async () => {
    const c = await RawClient.open(s.url);
    const bad = await c.call('connect', { token: await s.token({ sub: 'cy', caps: CAPS }), subs: { 'project:a': { offset: 'x' } } });
    expect(bad.error).toMatchObject({ code: 107 });
    const ok = await connectWith(
      s,
      { sub: 'cy', caps: CAPS },
      { subs: { 'project:own': { offset: 0, epoch: 'e' }, 'analytics:x': { offset: 0, epoch: 'e' } } },
    );
    await vi.waitFor(() => expect(ok.pushes('subscribe')).toHaveLength(2));
    const byChannel = new Map(ok.pushes('subscribe').map((p) => [p['channel'], p]));
    expect(byChannel.get('project:own')).toMatchObject({ recovered: false });
    expect(byChannel.get('analytics:x')).toMatchObject({ error: { code: 103 } });
    c.close();
    ok.close();
  });

  it('refuses a token whose subs claim is not a list of channel names', async () => {
    const c = await RawClient.open(s.url);
    const reply = await c.call('connect', { token: await s.token({ sub: 'dee', subs: 'project:a' }) });
    expect(reply.error).toMatchObject({ code: 101, message: expect.stringContaining('subs claim invalid') });
  });

  it("POST /users/{user}/subscribe subscribes every live connection of the user, never another tenant's", async () => {
    const a = await connectWith(s, { sub: 'eli', caps: CAPS });
    const b = await connectWith(s, { sub: 'eli', caps: { 'chat:*': ['subscribe'] } });
    const other = await connectWith(s, { sub: 'eli', tenant: 'other', caps: CAPS });
    expect(await api(s, '/users/eli/subscribe', { channel: 'project:news' })).toEqual({ status: 200, body: {} });
    await vi.waitFor(() => expect(a.pushes('subscribe', 'project:news')).toHaveLength(1));
    await vi.waitFor(() => expect(b.pushes('subscribe', 'project:news')).toHaveLength(1));
    expect(a.pushes('subscribe', 'project:news')[0]).toMatchObject({ offset: 0 });
    // b's token does not allow project:* — it is told so, and stays connected.
    expect(b.pushes('subscribe', 'project:news')[0]).toMatchObject({ error: { code: 103 } });
    expect(await api(s, '/subscribe', { user: 'eli', channel: 'chat:lobby' })).toEqual({ status: 200, body: {} });
    await vi.waitFor(() => expect(b.pushes('subscribe', 'chat:lobby')).toHaveLength(1));
    expect((await api(s, '/publish', { channel: 'project:news', data: 'n' })).status).toBe(200);
    await vi.waitFor(() => expect(a.pushes('pub', 'project:news')).toHaveLength(1));
    expect(other.pushes('subscribe')).toEqual([]);
    // Validation: an unknown namespace or a bad user id is a 4xx before anything is sent.
    expect((await api(s, '/users/eli/subscribe', { channel: 'nosuch:x' })).status).toBe(422);
    expect((await api(s, '/subscribe', { user: 'bad user!', channel: 'project:x' })).status).toBe(400);
    for (const c of [a, b, other]) c.close();
  });
});

describe('server-side subscriptions over two nodes on Redis', () => {
  const redis = { redis: 'redis://127.0.0.1:6379', redisPrefix: `sbssub-${randomBytes(4).toString('hex')}` };
  const secret = randomBytes(32).toString('hex');
  let n1: TestServer;
  let n2: TestServer;
  beforeAll(async () => {
    n1 = await startTestServer({ ...redis, auth: { secret } });
    n2 = await startTestServer({ ...redis, auth: { secret } });
  });
  afterAll(async () => {
    await Promise.all([n1.close(), n2.close()]);
  });

  it("reaches the user's connections on every node", async () => {
    const a = await connectWith(n1, { sub: 'fox', caps: CAPS });
    const b = await connectWith(n2, { sub: 'fox', caps: CAPS });
    expect((await api(n1, '/users/fox/subscribe', { channel: 'project:both' })).status).toBe(200);
    await vi.waitFor(() => expect([a, b].map((c) => c.pushes('subscribe', 'project:both').length)).toEqual([1, 1]));
    expect((await api(n2, '/publish', { channel: 'project:both', data: 'x' })).status).toBe(200);
    await vi.waitFor(() => expect([a, b].map((c) => c.pushes('pub', 'project:both').length)).toEqual([1, 1]));
    a.close();
    b.close();
  });
});
