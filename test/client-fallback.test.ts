/**
 * The SDK on the fallback transport (Server-Sent Events + POST), against a real server:
 * forced to it, falling back to it when a proxy refuses WebSocket upgrades, recovering across
 * a reconnect on it, and going back to WebSocket once the proxy lets upgrades through.
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientCode, type ClientOptions, type FetchLike, SwitchboardClient } from '@switchboard/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { waitFor, waitUntil } from '../packages/client/test/wait-for.js';
import { dropPrefix } from './cluster/drop-prefix.js';
import { lifecycleFeature } from './features/lifecycle/index.js';
import { type BlockingProxy, startBlockingProxy } from './helpers/blocking-proxy.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const WAIT = { timeout: 8_000, interval: 10 };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(overrides);
  cleanups.push(() => s.close());
  return s;
}

async function proxyTo(s: TestServer): Promise<BlockingProxy> {
  const p = await startBlockingProxy(s.port);
  cleanups.push(() => p.close());
  return p;
}

function client(s: TestServer, url: string, sub: string, options: ClientOptions = {}): SwitchboardClient {
  const c = new SwitchboardClient(url, {
    getToken: () => s.token({ sub }),
    backoff: { minDelay: 50, maxDelay: 400, shutdownJitter: 50 },
    ...options,
  });
  cleanups.push(() => c.disconnect());
  return c;
}

async function apiPublish(s: TestServer, channel: string, data: unknown): Promise<void> {
  const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  expect(res.status).toBe(200);
}

describe('the SDK forced to the fallback', () => {
  it("connects over SSE with transports: ['sse'] (no WebSocket class at all), subscribes, publishes, enters presence", async () => {
    const s = await server();
    const alice = client(s, s.url, 'alice', { transports: ['sse'] });
    const bob = client(s, s.url, 'bob', { transports: ['sse'] });
    const room = alice.subscribe<{ n: number }, { page: string }>('project:sse');
    const got: number[] = [];
    room.on('publication', (p) => got.push(p.data.n));
    alice.connect();
    bob.connect();
    await waitFor(room, 'subscribed');
    expect(alice.transport).toBe('sse');
    await room.enterPresence({ page: '/a' });
    const bobRoom = bob.subscribe<{ n: number }>('project:sse');
    await waitFor(bobRoom, 'subscribed');
    const { offset } = await bobRoom.publish({ n: 1 });
    expect(offset).toBe(1);
    await apiPublish(s, 'project:sse', { n: 2 });
    await waitUntil(room, 'publication', () => got.length === 2);
    expect(got).toEqual([1, 2]);
    const members = await bobRoom.presence();
    expect(members.map((m) => m.user)).toContain('alice');
    expect(s.server.node.clients.size).toBe(2);
    alice.disconnect();
    expect(alice.transport).toBeNull();
  });

  it('recovers across a reconnect of the event stream: every publication once, in order', async () => {
    const s = await server();
    const proxy = await proxyTo(s);
    const alice = client(s, proxy.url, 'alice', { transports: ['sse'] });
    const room = alice.subscribe<number>('project:recover');
    const got: number[] = [];
    room.on('publication', (p) => got.push(p.data));
    alice.connect();
    await waitFor(room, 'subscribed');
    for (let i = 1; i <= 5; i++) await apiPublish(s, 'project:recover', i);
    await waitUntil(room, 'publication', () => got.length === 5);
    const lost = waitFor(alice, 'connecting');
    proxy.cut();
    await lost;
    // Published while the stream is down.
    for (let i = 6; i <= 10; i++) await apiPublish(s, 'project:recover', i);
    const resubscribed = await waitFor(room, 'subscribed');
    expect(resubscribed).toMatchObject({ wasRecovering: true, recovered: true });
    for (let i = 11; i <= 12; i++) await apiPublish(s, 'project:recover', i);
    await waitUntil(room, 'publication', () => got.length >= 12);
    expect(got).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(alice.transport).toBe('sse');
  });
});

describe('closing the fallback', () => {
  it('disconnect() is a clean close for the server (no onConnectionLost); a cut stream is a lost connection', async () => {
    const log: string[] = [];
    const s = await server({ features: [lifecycleFeature(log)] });
    const proxy = await proxyTo(s);
    const clean = client(s, s.url, 'clean', { transports: ['sse'] });
    clean.connect();
    await waitFor(clean, 'connected');
    clean.disconnect();
    await vi.waitFor(() => expect(log.some((l) => l.startsWith('onDisconnect clean'))).toBe(true), WAIT);
    const cut = client(s, proxy.url, 'cut', { transports: ['sse'] });
    cut.connect();
    await waitFor(cut, 'connected');
    const lost = waitFor(cut, 'connecting');
    proxy.cut();
    expect((await lost).code).toBe(1006);
    await vi.waitFor(() => expect(log).toContain('onConnectionLost cut'), WAIT);
    expect(log).not.toContain('onConnectionLost clean');
  });
});

describe('falling back and upgrading back', () => {
  it('falls back to SSE when a proxy refuses the WebSocket upgrade, then returns to WebSocket once upgrades pass, without losing a publication', async () => {
    const s = await server();
    const proxy = await proxyTo(s);
    const alice = client(s, proxy.url, 'alice', { WebSocket, fallbackAfter: 1, upgradeInterval: 200 });
    const room = alice.subscribe<number>('project:upgrade');
    const got: number[] = [];
    room.on('publication', (p) => got.push(p.data));
    alice.connect();
    await waitFor(room, 'subscribed');
    expect(alice.transport).toBe('sse');
    expect(proxy.refused).toBeGreaterThanOrEqual(1);
    await apiPublish(s, 'project:upgrade', 1);
    await waitUntil(room, 'publication', () => got.length === 1);
    // Probes keep being refused: still on SSE.
    await vi.waitFor(() => expect(proxy.refused).toBeGreaterThanOrEqual(3), WAIT);
    expect(alice.transport).toBe('sse');

    proxy.allowUpgrades = true;
    const upgraded = waitFor(alice, 'connected');
    const recovered = waitFor(room, 'subscribed');
    for (let i = 2; i <= 6; i++) await apiPublish(s, 'project:upgrade', i);
    await upgraded;
    expect(alice.transport).toBe('websocket');
    expect(await recovered).toMatchObject({ wasRecovering: true, recovered: true });
    await apiPublish(s, 'project:upgrade', 7);
    await waitUntil(room, 'publication', () => got.length >= 7);
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // The SSE session is gone; only the WebSocket remains.
    await vi.waitFor(() => expect(s.server.node.clients.size).toBe(1), WAIT);
  });

  it("stays on WebSocket attempts with transports: ['websocket'] (opted out) while the proxy refuses upgrades", async () => {
    const s = await server();
    const proxy = await proxyTo(s);
    const alice = client(s, proxy.url, 'alice', { WebSocket, transports: ['websocket'], fallbackAfter: 1 });
    alice.connect();
    await vi.waitFor(() => expect(proxy.refused).toBeGreaterThanOrEqual(4), WAIT);
    expect(alice.state).toBe('connecting');
    expect(s.server.node.clients.size).toBe(0);
  });

  it('checks the transport options', () => {
    expect(() => new SwitchboardClient('ws://x/ws', { WebSocket, transports: [] })).toThrow(/transports/);
    expect(() => new SwitchboardClient('ws://x/ws', { WebSocket, transports: ['carrier-pigeon' as 'sse'] })).toThrow(/transports/);
    expect(() => new SwitchboardClient('ws://x/ws', { transports: ['sse'], fetch: null })).toThrow(/needs fetch/);
    expect(() => new SwitchboardClient('ws://x/ws', { WebSocket, upgradeInterval: -1 })).toThrow(/upgradeInterval/);
  });
});

describe('after an outage', () => {
  it('a client that tried both transports while the server was down is back on WebSocket when the server is, without waiting for upgradeInterval', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-sse-outage-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let s = await startTestServer({ keepDataDir: dataDir });
    let up = true;
    cleanups.push(() => (up ? s.close() : undefined));
    const port = s.port;

    // The fallback's event-stream requests, seen through the client's own fetch. Once `hold` is
    // set, the next one waits for `release`: the server comes back while that attempt is on
    // its way, so the attempt that reaches it is the fallback's.
    const stream = { failed: 0, hold: false };
    let held: () => void = () => {};
    const reached = new Promise<void>((resolve) => (held = resolve));
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const throughFetch: FetchLike = async (url, init) => {
      if (init?.headers?.['accept'] !== 'text/event-stream') return fetch(url, init) as ReturnType<FetchLike>;
      if (stream.hold) {
        stream.hold = false;
        held();
        await released;
      }
      return (fetch(url, init) as ReturnType<FetchLike>).catch((err: unknown) => {
        stream.failed++;
        throw err;
      });
    };

    const alice = new SwitchboardClient(s.url, {
      getToken: () => s.token({ sub: 'alice' }),
      WebSocket,
      fetch: throughFetch,
      backoff: { minDelay: 50, maxDelay: 400, shutdownJitter: 50 },
      // Only a WebSocket tried because of the outage can explain a WebSocket connection.
      upgradeInterval: 3_600_000,
    });
    cleanups.push(() => alice.disconnect());
    alice.connect();
    await waitFor(alice, 'connected');
    expect(alice.transport).toBe('websocket');

    await s.close();
    up = false;
    // WebSocket attempts failed (fallbackAfter 2), then the fallback's too.
    await waitUntil(alice, 'reconnecting', () => stream.failed >= 1, 10_000);
    stream.hold = true;
    await reached;
    s = await startTestServer({ port, keepDataDir: dataDir });
    up = true;
    const back = waitFor(alice, 'connected');
    const switching = waitFor(alice, 'connecting');
    const onWebSocket = waitFor(alice, 'connected', () => alice.transport === 'websocket', 10_000);
    release();
    await back;
    // The attempt that met the server again was the fallback's ...
    expect(alice.transport).toBe('sse');
    // ... and the client goes on to WebSocket at once, not an upgradeInterval later.
    expect((await switching).code).toBe(ClientCode.TransportUpgrade.code);
    await onWebSocket;
    await vi.waitFor(() => expect(s.server.node.clients.size).toBe(1), WAIT);
  });
});

describe('the fallback across nodes', () => {
  const REDIS = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

  it('works behind a load balancer without affinity: POSTs that reach the other node are relayed to the stream’s node, in order', async () => {
    const prefix = `sbsse-${randomBytes(3).toString('hex')}`;
    cleanups.push(() => dropPrefix(REDIS, prefix));
    const a = await server({ redis: REDIS, redisPrefix: prefix, nodeId: 'node-a' });
    const b = await server({ redis: REDIS, redisPrefix: prefix, nodeId: 'node-b' });
    // Every request goes to the next node in turn: the stream on one, its POSTs on both.
    const lb = await startBlockingProxy([a.port, b.port]);
    cleanups.push(() => lb.close());
    const alice = client(a, lb.url, 'alice', { transports: ['sse'] });
    const room = alice.subscribe<number, { page: string }>('project:rr');
    const got: number[] = [];
    room.on('publication', (p) => got.push(p.data));
    alice.connect();
    await waitFor(room, 'subscribed');
    await room.enterPresence({ page: '/lb' });
    const offsets: number[] = [];
    for (let i = 1; i <= 10; i++) offsets.push((await room.publish(i)).offset);
    expect(offsets).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    // Publications from the HTTP API of either node reach the stream.
    await apiPublish(b, 'project:rr', 11);
    await apiPublish(a, 'project:rr', 12);
    await waitUntil(room, 'publication', () => got.length === 12);
    expect(got).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect((await room.presence()).map((m) => m.user)).toEqual(['alice']);
    expect(a.server.node.clients.size + b.server.node.clients.size).toBe(1);
    alice.disconnect();
    await vi.waitFor(() => expect(a.server.node.clients.size + b.server.node.clients.size).toBe(0), WAIT);
  });
});
