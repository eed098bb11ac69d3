import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ManualClock } from './helpers/manual-clock.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('token expiry and refresh', () => {
  let s: TestServer;
  // The server's clock moves only when a test moves it: expiry takes no wall-clock time.
  const clock = new ManualClock();
  // No clock skew, so a connection ends at its token's exp (exp + auth.clockSkew).
  beforeAll(async () => {
    s = await startTestServer({ auth: { clockSkew: '0s' }, now: clock.now });
    clock.onMove(() => s.server.node.wheel.advance());
  });
  afterAll(async () => {
    await s.close();
  });

  it('refreshes over the live connection without reconnecting, then closes with 3003 when not refreshed', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'exp', ttlSeconds: 2 }));
    await c.call('subscribe', { channel: 'project:t' });
    const expires = c.info['expires'] as number;
    const r = await c.call('refresh', { token: await s.token({ sub: 'exp', ttlSeconds: 3 }) });
    const refreshed = r.result?.['expires'] as number;
    expect(refreshed).toBeGreaterThan(expires);
    // Still connected and subscribed past the first token's expiry: the publish is answered.
    clock.advanceTo(refreshed - 1);
    const p = await c.call('publish', { channel: 'project:t', data: 'still here' });
    expect(p.error).toBeUndefined();
    expect(c.closeCode).toBeNull();
    clock.advanceTo(refreshed);
    expect(await c.waitClose()).toBe(3003);
  });

  it('refuses a refresh token of another user and closes with 3500', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'me' }));
    const r = await c.call('refresh', { token: await s.token({ sub: 'someone-else' }) });
    expect(r.error?.code).toBe(101);
    expect(await c.waitClose()).toBe(3500);
  });

  it('drops subscriptions a refreshed token no longer allows', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'shrink', caps: { 'project:*': ['subscribe'] } }));
    await c.call('subscribe', { channel: 'project:a' });
    await c.call('subscribe', { channel: 'project:b' });
    await c.call('refresh', { token: await s.token({ sub: 'shrink', caps: { 'project:a': ['subscribe'] } }) });
    const push = await c.waitFor((f) => f.push === 'unsubscribe');
    expect(push).toMatchObject({ channel: 'project:b', code: 3504 });
    c.close();
  });
});

describe('limits', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({
      allowedOrigins: ['https://app.example'],
      limits: {
        maxMessageBytes: 2048,
        maxChannelsPerConnection: 3,
        connectionsPerUser: 2,
        connectionsPerTenant: 5,
        publishPerSecondPerConnection: 2,
        eventsPerMinutePerUser: 600,
        newConnectionsPerIpPerSecond: 1000,
      },
    });
  });
  afterAll(async () => {
    await s.close();
  });

  it('closes a connection that sends a message above the maximum size with 1009', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'big' }));
    c.send('publish', { channel: 'project:1', data: 'x'.repeat(4096) });
    expect(await c.waitClose()).toBe(1009);
  });

  it('refuses a publication above the namespace maximum with 114', async () => {
    const s2 = await startTestServer({ namespaces: { project: { maxPublicationBytes: 100 } } });
    const c = await RawClient.connect(s2.url, await s2.token({ sub: 'p' }));
    expect((await c.call('publish', { channel: 'project:1', data: 'x'.repeat(200) })).error?.code).toBe(114);
    expect((await c.call('publish', { channel: 'project:1', data: 'small' })).error).toBeUndefined();
    c.close();
    await s2.close();
  });

  it('limits channels per connection with 106', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'many' }));
    for (let i = 0; i < 3; i++) expect((await c.call('subscribe', { channel: `project:${i}` })).error).toBeUndefined();
    expect((await c.call('subscribe', { channel: 'project:3' })).error?.code).toBe(106);
    c.close();
  });

  it('limits the publish rate per connection with a temporary 111', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'fast' }));
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => c.call('publish', { channel: 'project:r', data: i })));
    const limited = replies.filter((r) => r.error?.code === 111);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]?.error?.temporary).toBe(true);
    expect(replies.filter((r) => !r.error).length).toBe(4); // burst = 2 x rate
    c.close();
  });

  it('limits the publish rate per user across connections', async () => {
    const s2 = await startTestServer({ limits: { eventsPerMinutePerUser: 60, publishPerSecondPerConnection: 100 } });
    const a = await RawClient.connect(s2.url, await s2.token({ sub: 'u' }));
    const b = await RawClient.connect(s2.url, await s2.token({ sub: 'u' }));
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).call('publish', { channel: 'project:r', data: i })));
    expect(replies.filter((r) => !r.error).length).toBe(10); // burst = rate / 6
    expect(replies.filter((r) => r.error?.code === 111).length).toBe(2);
    a.close();
    b.close();
    await s2.close();
  });

  it('limits connections per user (3503) and per tenant', async () => {
    const a = await RawClient.connect(s.url, await s.token({ sub: 'tab', tenant: 'demo' }));
    const b = await RawClient.connect(s.url, await s.token({ sub: 'tab', tenant: 'demo' }));
    const c = await RawClient.open(s.url);
    expect((await c.call('connect', { token: await s.token({ sub: 'tab', tenant: 'demo' }) })).error?.code).toBe(106);
    expect(await c.waitClose()).toBe(3503);
    b.close();
    await b.waitClose();
    const d = await RawClient.connect(s.url, await s.token({ sub: 'tab', tenant: 'demo' }));
    // Tenant limit 5: three more users fill it, the next is refused.
    const others = [];
    for (let i = 0; i < 3; i++) others.push(await RawClient.connect(s.url, await s.token({ sub: `t${i}`, tenant: 'demo' })));
    const over = await RawClient.open(s.url);
    expect((await over.call('connect', { token: await s.token({ sub: 'late', tenant: 'demo' }) })).error?.code).toBe(106);
    expect(await over.waitClose()).toBe(3503);
    for (const x of [a, d, ...others]) x.close();
  });

  it('refuses foreign browser Origins with 403 before the upgrade and accepts allowed ones', async () => {
    await expect(RawClient.open(s.url, { Origin: 'https://evil.example' })).rejects.toThrow('HTTP 403');
    const ok = await RawClient.open(s.url, { Origin: 'https://app.example' });
    ok.close();
    const local = await RawClient.open(s.url, { Origin: 'http://localhost:5173' }); // development mode
    local.close();
  });

  it('limits new connections per IP per second with HTTP 429', async () => {
    const s2 = await startTestServer({ limits: { newConnectionsPerIpPerSecond: 2 } });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => RawClient.open(s2.url)));
    const refused = results.filter((r) => r.status === 'rejected' && String(r.reason).includes('429'));
    expect(refused.length).toBeGreaterThanOrEqual(4);
    for (const r of results) if (r.status === 'fulfilled') r.value.close();
    await s2.close();
  });

  it('closes a socket that does not connect within the handshake deadline with 3004', async () => {
    const clock = new ManualClock();
    const s2 = await startTestServer({ timeouts: { handshake: '200ms' }, now: clock.now });
    clock.onMove(() => s2.server.node.wheel.advance());
    const c = await RawClient.open(s2.url);
    // The server took the socket (its handshake deadline runs) before the upgrade was answered.
    expect(s2.server.node.clients.size).toBe(1);
    clock.advance(200);
    expect(await c.waitClose()).toBe(3004);
    await s2.close();
  });

  it('closes a slow consumer with 3006 and keeps others working', async () => {
    const s2 = await startTestServer({
      limits: {
        queueMaxBytes: 65536,
        queueSignalDropBytes: 16384,
        publishPerSecondPerConnection: 100000,
        eventsPerMinutePerUser: 10000000,
        commandsPerSecond: 100000,
      },
    });
    const slow = new WebSocket(s2.url);
    await new Promise((r) => slow.once('open', r));
    let slowClose = 0;
    slow.on('close', (code) => {
      slowClose = code;
    });
    slow.send(JSON.stringify({ id: 1, method: 'connect', params: { token: await s2.token({ sub: 'slow' }) } }));
    slow.send(JSON.stringify({ id: 2, method: 'subscribe', params: { channel: 'project:flood' } }));
    await new Promise((r) => slow.once('message', r));
    // Stop reading: pause the underlying socket so the kernel buffers fill up.
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    const ok = await RawClient.connect(s2.url, await s2.token({ sub: 'ok' }));
    await ok.call('subscribe', { channel: 'project:other' });
    const pub = await RawClient.connect(s2.url, await s2.token({ sub: 'pub' }));
    // Random text, so the flood fills the socket whether or not the connection compresses.
    const big = randomBytes(6000).toString('base64');
    const disconnects = () => s2.server.node.stats.disconnects.get(3006) ?? 0;
    for (let i = 0; i < 2000 && disconnects() === 0; i++) await pub.call('publish', { channel: 'project:flood', data: big });
    expect(disconnects()).toBe(1);
    await pub.call('publish', { channel: 'project:other', data: 'fine' });
    await ok.waitFor((f) => f.push === 'pub' && f['data'] === 'fine');
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    await new Promise<void>((r) => {
      if (slowClose) r();
      else slow.once('close', () => r());
    });
    expect([3006, 1006]).toContain(slowClose);
    ok.close();
    pub.close();
    await s2.close();
  });
});
