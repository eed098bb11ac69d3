import { createHmac } from 'node:crypto';
import { SwitchboardClient, SwitchboardError } from '@switchboard/client';
import { BACKEND_HOOK_KINDS, backendHookRequests } from '@switchboard/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from '../../../packages/client/test/wait-for.js';
import { eventually } from '../../helpers/eventually.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { RawClient } from '../../helpers/raw-client.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { deadUrl, TestBackend } from './backend.js';

const SECRET = 'backend-hooks-test-secret';
const BOB = {
  user: 'bob',
  tenant: 'acme',
  caps: { 'project:*': ['subscribe', 'publish'], 'chat:*': ['publish'], 'gone:*': ['publish'] },
  info: { name: 'Bob' },
};

/** Backend hooks over a real server and a real node:http backend, both on 127.0.0.1. */
describe('backend hooks', () => {
  const clock = new ManualClock();
  let backend: TestBackend;
  let down: string;
  let s: TestServer;
  const open: Array<{ close(): void }> = [];

  beforeAll(async () => {
    backend = await TestBackend.start();
    down = await deadUrl();
    const b = backend.url;
    s = await startTestServer({
      now: clock.now,
      auth: { clockSkew: '0s' },
      // The clock jumps by minutes in the refresh test: pings stay out of the way.
      timeouts: { ping: '1d' },
      namespaces: {
        project: {},
        analytics: {},
        chat: { subscribe: 'authenticated' },
        quiet: { subscribe: 'authenticated' },
        gone: { subscribe: 'authenticated' },
        room: { subscribe: 'authenticated', historySize: 10, presence: true },
      },
      backendHooks: {
        connectUrl: `${b}/connect`,
        refreshUrl: `${b}/refresh`,
        subscribeUrl: `${b}/subscribe`,
        publishUrl: `${b}/publish`,
        rpcUrl: `${b}/rpc`,
        namespaces: { quiet: { subscribeUrl: '', publishUrl: '' }, gone: { subscribeUrl: `${down}/subscribe`, publishUrl: `${down}/publish` } },
        // Long enough that four held calls are still in flight when the fifth is refused, on a busy machine.
        timeout: '1500ms',
        maxConcurrency: 4,
        maxResponseBytes: 4096,
        headers: ['X-App-Session', 'Content-Length'],
        secret: SECRET,
      },
    });
    clock.onMove(() => s.server.node.wheel.advance());
    backend.on('connect', () => ({ json: { result: BOB } }));
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await s?.close();
    await backend?.close();
  });

  /** A raw connection authenticated by the backend (no token). */
  async function connectRaw(headers: Record<string, string> = {}): Promise<RawClient> {
    const c = await RawClient.open(s.url, headers);
    open.push(c);
    const reply = await c.call('connect', {});
    if (reply.error) throw new Error(`connect refused: ${JSON.stringify(reply.error)}`);
    c.info = reply.result as Record<string, unknown>;
    return c;
  }

  function sdk(): SwitchboardClient {
    const client = new SwitchboardClient(s.url, { WebSocket });
    open.push({ close: () => client.disconnect() });
    return client;
  }

  async function metric(hook: string, outcome: string): Promise<number> {
    const text = await s.server.node.metricsRegistry.getSingleMetricAsString('switchboard_backend_hook_calls_total');
    const line = text.split('\n').find((l) => l.startsWith(`switchboard_backend_hook_calls_total{hook="${hook}",outcome="${outcome}"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  it('connect without a token: the backend names the user, tenant and capabilities; a JWT connect does not ask it', async () => {
    const before = backend.callsOf('connect').length;
    const c = await connectRaw({ 'X-App-Session': 'sess-1', 'X-Other': 'not passed' });
    expect(c.info).toMatchObject({ user: 'bob', tenant: 'acme' });
    expect(c.info['expires']).toBeUndefined();
    expect((await c.call('subscribe', { channel: 'project:1' })).result).toBeDefined();
    expect((await c.call('subscribe', { channel: 'analytics:x' })).error?.code).toBe(103);

    const call = backend.callsOf('connect')[before];
    expect(call?.body).toEqual({ client: c.info['client'], ip: '127.0.0.1' });
    expect(call?.headers['x-app-session']).toBe('sess-1');
    expect(call?.headers['x-other']).toBeUndefined();
    expect(call?.headers['x-switchboard-hook']).toBe('connect');
    const ts = call?.headers['x-switchboard-timestamp'] as string;
    expect(call?.headers['x-switchboard-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${call?.text}`).digest('hex')}`);

    const jwt = await RawClient.connect(s.url, await s.token({ sub: 'carol' }));
    open.push(jwt);
    expect(jwt.info['user']).toBe('carol');
    expect(backend.callsOf('connect').length).toBe(before + 1);
  });

  it('a refusal by the backend is 101 and close 3500, or its own code and close 3504', async () => {
    backend.on('connect', () => ({ json: { error: { message: 'unknown session' } } }));
    const a = await RawClient.open(s.url);
    const refused = await a.call('connect', {});
    expect(refused.error).toEqual({ code: 101, message: 'unauthorized: unknown session', temporary: false });
    expect(await a.waitClose()).toBe(3500);

    backend.on('connect', () => ({ json: { error: { code: 1403, message: 'banned' } } }));
    const b = await RawClient.open(s.url);
    expect((await b.call('connect', {})).error).toEqual({ code: 1403, message: 'banned', temporary: false });
    expect(await b.waitClose()).toBe(3504);
    backend.on('connect', () => ({ json: { result: BOB } }));
  });

  it('subscribe: allowed with info the client sees, refused with 103 or the backend code; a namespace turned off is not asked', async () => {
    backend.on('subscribe', ({ body }) => {
      if (body['channel'] === 'chat:secret') return { json: { error: {} } };
      if (body['channel'] === 'chat:vip') return { json: { error: { code: 1401, message: 'members only' } } };
      return { json: { result: { info: { role: 'editor', channel: body['channel'] } } } };
    });
    const client = sdk();
    client.connect();
    const sub = client.subscribe('chat:room1');
    const subscribed = await waitFor(sub, 'subscribed');
    expect(subscribed.info).toEqual({ role: 'editor', channel: 'chat:room1' });
    expect(sub.info).toEqual({ role: 'editor', channel: 'chat:room1' });
    expect(client.session?.user).toBe('bob');

    const c = await connectRaw();
    expect((await c.call('subscribe', { channel: 'chat:secret' })).error).toEqual({
      code: 103,
      message: 'permission denied: refused by the backend',
      temporary: false,
    });
    expect((await c.call('subscribe', { channel: 'chat:vip' })).error).toEqual({ code: 1401, message: 'members only', temporary: false });
    const asked = backend.callsOf('subscribe').length;
    const quiet = await c.call('subscribe', { channel: 'quiet:1' });
    expect(quiet.result).toBeDefined();
    expect(quiet.result?.['info']).toBeUndefined();
    expect(backend.callsOf('subscribe').length).toBe(asked);
    expect(backend.callsOf('subscribe').at(-1)?.body).toEqual({ client: c.info['client'], user: 'bob', tenant: 'acme', channel: 'chat:vip' });
  });

  it('history and presence of a channel the connection is not subscribed to ask the subscribe hook, and get its refusal', async () => {
    backend.on('subscribe', ({ body }) => {
      if (body['channel'] === 'room:secret') return { json: { error: { code: 1401, message: 'members only' } } };
      return { json: { result: {} } };
    });
    const c = await connectRaw();
    const refused = { code: 1401, message: 'members only', temporary: false };
    const before = backend.callsOf('subscribe').length;
    expect((await c.call('history', { channel: 'room:secret' })).error).toEqual(refused);
    expect((await c.call('presence', { channel: 'room:secret' })).error).toEqual(refused);
    expect((await c.call('presence_stats', { channel: 'room:secret' })).error).toEqual(refused);
    expect(backend.callsOf('subscribe').length).toBe(before + 3);
    expect(backend.callsOf('subscribe').at(-1)?.body).toEqual({ client: c.info['client'], user: 'bob', tenant: 'acme', channel: 'room:secret' });

    // Allowed: the read is answered; once subscribed, reads do not ask again.
    expect((await c.call('history', { channel: 'room:open' })).result).toMatchObject({ publications: [] });
    expect(backend.callsOf('subscribe').length).toBe(before + 4);
    expect((await c.call('subscribe', { channel: 'room:open' })).result).toBeDefined();
    const subscribed = backend.callsOf('subscribe').length;
    expect((await c.call('history', { channel: 'room:open' })).result).toMatchObject({ publications: [] });
    expect((await c.call('presence', { channel: 'room:open' })).result).toEqual({ members: [] });
    expect(backend.callsOf('subscribe').length).toBe(subscribed);
  });

  it('publish: allowed as sent, rewritten (subscribers get the rewrite), or refused', async () => {
    backend.on('subscribe', () => ({ json: { result: {} } }));
    backend.on('publish', ({ body }) => {
      const data = body['data'] as { text: string };
      if (data.text === 'spam') return { json: { error: { message: 'spam' } } };
      if (data.text === 'shout') return { json: { result: { data: { text: 'SHOUT', checked: true } } } };
      return { json: { result: {} } };
    });
    const reader = await connectRaw();
    await reader.call('subscribe', { channel: 'chat:pub' });
    const writer = await connectRaw();
    expect((await writer.call('publish', { channel: 'chat:pub', data: { text: 'hi' } })).result).toMatchObject({ offset: 1 });
    expect((await writer.call('publish', { channel: 'chat:pub', data: { text: 'spam' } })).error).toMatchObject({ code: 103 });
    expect((await writer.call('publish', { channel: 'chat:pub', data: { text: 'shout' } })).result).toMatchObject({ offset: 2 });
    await reader.until(() => reader.pushes('pub', 'chat:pub').length === 2, 3000, 'two publications');
    expect(reader.pushes('pub', 'chat:pub').map((p) => (p as unknown as { data: unknown }).data)).toEqual([{ text: 'hi' }, { text: 'SHOUT', checked: true }]);
    expect(backend.callsOf('publish').at(-1)?.body).toEqual({
      client: writer.info['client'],
      user: 'bob',
      tenant: 'acme',
      channel: 'chat:pub',
      data: { text: 'shout' },
    });
  });

  it("the HTTP API's publishes are the app's own: the publish hook is not asked", async () => {
    const reader = await connectRaw();
    await reader.call('subscribe', { channel: 'chat:api' });
    const asked = backend.callsOf('publish').length;
    const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'chat:api', data: { text: 'from the app' } }),
    });
    expect(res.status).toBe(200);
    await reader.until(() => reader.pushes('pub', 'chat:api').length === 1, 3000, 'the publication');
    expect(backend.callsOf('publish').length).toBe(asked);
  });

  it('rpc: the SDK call is answered by the backend, its refusal is a typed error', async () => {
    backend.on('rpc', ({ body }) => {
      const data = body['data'] as { a: number; b: number };
      if (body['method'] === 'sum') return { json: { result: { data: { sum: data.a + data.b } } } };
      return { json: { error: { code: 1404, message: `no method ${String(body['method'])}` } } };
    });
    const client = sdk();
    client.connect();
    await waitFor(client, 'connected');
    expect(await client.rpc('sum', { a: 1, b: 2 })).toEqual({ sum: 3 });
    const err = await client.rpc('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect(err).toMatchObject({ code: 1404, message: 'no method nope', temporary: false });
    expect(backend.callsOf('rpc').at(-1)?.body).toMatchObject({ user: 'bob', tenant: 'acme', method: 'nope', data: null });
  });

  it('refresh: an expiring connection the backend authenticated is extended with new capabilities, or closed when it says no', async () => {
    const expires = clock.now() + 60_000;
    backend.on('connect', () => ({ json: { result: { ...BOB, expires: clock.now() + 60_000 } } }));
    backend.on('refresh', () => ({ json: { result: { expires: clock.now() + 60_000, caps: { 'project:*': ['subscribe'] }, info: { name: 'Bobby' } } } }));
    const c = await connectRaw();
    expect(c.info['expires']).toBe(expires);
    await c.call('subscribe', { channel: 'chat:r' });
    const before = backend.callsOf('refresh').length;
    clock.advance(60_000);
    await eventually(() => backend.callsOf('refresh').length === before + 1, 3000, 'the refresh call');
    expect(backend.callsOf('refresh')[before]?.body).toEqual({ client: c.info['client'], user: 'bob', tenant: 'acme', info: { name: 'Bob' } });
    expect((await c.call('publish', { channel: 'project:r', data: 1 })).error?.code).toBe(103);
    expect((await c.call('ping', {})).result).toEqual({});

    backend.on('refresh', () => ({ json: { error: {} } }));
    clock.advance(60_000);
    expect(await c.waitClose()).toBe(3003);

    backend.on('refresh', () => ({ status: 503 }));
    const d = await connectRaw();
    clock.advance(120_000);
    expect(await d.waitClose()).toBe(3002);
    backend.on('connect', () => ({ json: { result: BOB } }));
  });

  it('a connection that refreshed to a token expires as a token does: the backend is not asked to extend it', async () => {
    backend.on('refresh', () => ({ json: { result: {} } }));
    const c = await connectRaw();
    const token = await s.token({ sub: 'bob', tenant: 'acme', ttlSeconds: 60 });
    expect((await c.call('refresh', { token })).result?.['expires']).toBeGreaterThan(clock.now());
    const asked = backend.callsOf('refresh').length;
    clock.advance(61_000);
    expect(await c.waitClose()).toBe(3003);
    expect(backend.callsOf('refresh').length).toBe(asked);
  });

  it('a slow backend is 120 after the timeout, counted, and the connection keeps working', async () => {
    backend.on('rpc', () => ({ hold: true }));
    const c = await connectRaw();
    const timeouts = await metric('rpc', 'timeout');
    const reply = await c.call('rpc', { method: 'slow', data: 1 });
    expect(reply.error).toEqual({ code: 120, message: 'backend unavailable: timeout', temporary: true });
    expect(await metric('rpc', 'timeout')).toBe(timeouts + 1);
    backend.release();
    expect((await c.call('ping', {})).result).toEqual({});
  });

  it('a backend that is down is 120 at once; a connect it cannot answer closes with 3002 and the SDK reconnects', async () => {
    const c = await connectRaw();
    expect((await c.call('subscribe', { channel: 'gone:1' })).error).toEqual({ code: 120, message: 'backend unavailable', temporary: true });
    expect((await c.call('publish', { channel: 'gone:1', data: 1 })).error?.code).toBe(120);
    expect(await metric('subscribe', 'unavailable')).toBeGreaterThan(0);

    backend.on('connect', () => ({ status: 502 }));
    const a = await RawClient.open(s.url);
    expect((await a.call('connect', {})).error).toEqual({ code: 120, message: 'backend unavailable: HTTP 502', temporary: true });
    expect(await a.waitClose()).toBe(3002);
    const client = new SwitchboardClient(s.url, { WebSocket, backoff: { minDelay: 10, maxDelay: 20 } });
    open.push({ close: () => client.disconnect() });
    const asked = backend.callsOf('connect').length;
    client.connect();
    await eventually(() => backend.callsOf('connect').length >= asked + 2, 5000, 'a second connect attempt');
    backend.on('connect', () => ({ json: { result: BOB } }));
    await waitFor(client, 'connected', undefined, 5000);
  });

  it('an answer that is not one is 121 and logged: not JSON, the wrong shape, too large', async () => {
    const c = await connectRaw();
    const cases = [
      { text: 'not json' },
      { json: { result: { data: 1 }, extra: true, error: 'x' } },
      { json: {} },
      { json: [1, 2] },
      { chunks: 8, chunkBytes: 1024 },
      { text: JSON.stringify({ result: { data: 'x'.repeat(5000) } }) },
    ] as const;
    const invalid = await metric('rpc', 'invalid');
    let n = 0;
    for (const reply of cases) {
      backend.on('rpc', () => reply);
      const r = await c.call('rpc', { method: 'garbage', data: n++ });
      if (n === 2) {
        // Extra fields are ignored: `result` wins over them.
        expect(r.result).toEqual({ data: 1 });
        continue;
      }
      expect(r.error, JSON.stringify(reply).slice(0, 80)).toEqual({ code: 121, message: 'backend invalid response', temporary: false });
    }
    expect(await metric('rpc', 'invalid')).toBe(invalid + cases.length - 1);

    backend.on('connect', () => ({ json: { result: { user: 'bob', tenant: 'no such tenant!' } } }));
    const bad = await RawClient.open(s.url);
    expect((await bad.call('connect', {})).error?.code).toBe(121);
    backend.on('connect', () => ({ json: { result: BOB } }));
    expect((await c.call('ping', {})).result).toEqual({});
  });

  it('beyond maxConcurrency calls in flight a call is refused at once with 122', async () => {
    backend.on('rpc', () => ({ hold: true }));
    const c = await connectRaw();
    // Another connection: replies on one connection leave in the order of its commands.
    const other = await connectRaw();
    const held = [1, 2, 3, 4].map((i) => c.call('rpc', { method: 'wait', data: i }));
    await eventually(() => backend.heldCount === 4, 3000, 'four calls at the backend');
    const busy = await other.call('rpc', { method: 'wait', data: 5 });
    expect(busy.error).toEqual({ code: 122, message: 'backend busy: 4 calls in flight', temporary: true });
    backend.release({ data: 'done' });
    for (const reply of await Promise.all(held)) expect(reply.result, JSON.stringify(reply)).toEqual({ data: 'done' });
    expect(await metric('rpc', 'busy')).toBe(1);
  });

  it('every request the server sent matches the documented request schema of its hook', () => {
    const hooks = new Set(backend.calls.map((c) => c.hook));
    expect([...hooks].sort()).toEqual([...BACKEND_HOOK_KINDS].sort());
    for (const call of backend.calls) {
      const schema = backendHookRequests[call.hook as keyof typeof backendHookRequests];
      expect(schema.safeParse(JSON.parse(call.text)).success, `${call.hook}: ${call.text}`).toBe(true);
      expect(call.headers['x-switchboard-hook']).toBe(call.hook);
      expect(call.headers['content-type']).toBe('application/json');
    }
  });
});
