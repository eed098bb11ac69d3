/**
 * The fallback transport on the server: `GET /ws/sse` opens a Server-Sent Events stream
 * carrying the same frames as `/ws`, `POST /ws/sse?session=…` carries the client's frames.
 * A session is a connection like a WebSocket one: the same admission checks, handshake
 * deadline, limits and drain. Real server on port 0, real HTTP. The hostile cases (foreign
 * and unknown sessions, oversized POSTs, floods) are in test/hostile/fallback.test.ts.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';
import { openSse, postSse, type RawSse } from './helpers/sse-client.js';

const WAIT = { timeout: 5_000, interval: 5 };

let s: TestServer | undefined;
const streams: RawSse[] = [];

afterEach(async () => {
  for (const st of streams.splice(0)) st.close();
  await s?.close();
  s = undefined;
});

async function open(server: TestServer, headers: Record<string, string> = {}): Promise<RawSse> {
  const st = await openSse(server.httpUrl, headers);
  streams.push(st);
  return st;
}

/** Open a stream and connect on it; resolves with the stream and the connect result. */
async function connected(server: TestServer, tenant = 'acme', headers: Record<string, string> = {}) {
  const st = await open(server, headers);
  const token = await server.token({ sub: `u-${tenant}`, tenant });
  expect((await postSse(server.httpUrl, st.session, JSON.stringify({ id: 1, method: 'connect', params: { token } }), headers)).status).toBe(204);
  const reply = await vi.waitFor(() => {
    const r = st.frames().find((f) => f['id'] === 1);
    if (!r) throw new Error('no connect reply yet');
    return r;
  }, WAIT);
  return { st, result: reply['result'] as { client: string; tenant: string } };
}

const closeEvent = (st: RawSse) => {
  const e = st.events.find((ev) => ev.event === 'close');
  if (!e) throw new Error('no close event yet');
  return JSON.parse(e.data) as { code: number; reason: string };
};

describe('the SSE fallback endpoint', () => {
  it('opens a stream whose first event names the session, with headers that keep proxies from buffering', async () => {
    s = await startTestServer();
    const st = await open(s);
    expect(st.status).toBe(200);
    expect(st.headers['content-type']).toBe('text/event-stream');
    expect(st.headers['x-accel-buffering']).toBe('no');
    expect(st.headers['cache-control']).toBe('no-store');
    expect(st.events[0]?.event).toBe('session');
    expect(st.session).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{24}$/);
    // Counted like any connection, and on its own.
    await vi.waitFor(() => expect(s?.server.node.clients.size).toBe(1), WAIT);
    const metrics = async () => (await fetch(`${s?.httpUrl}/metrics`)).text();
    expect(await metrics()).toMatch(/^switchboard_fallback_sessions 1$/m);
    st.close();
    await vi.waitFor(() => expect(s?.server.node.clients.size).toBe(0), WAIT);
    expect(await metrics()).toMatch(/^switchboard_fallback_sessions 0$/m);
  });

  it('carries the same frames as /ws: connect, subscribe, several frames per POST, publications from the API', async () => {
    s = await startTestServer();
    const { st, result } = await connected(s);
    expect(result.tenant).toBe('acme');
    const frames = [
      { id: 2, method: 'subscribe', params: { channel: 'project:sse' } },
      { id: 3, method: 'publish', params: { channel: 'project:sse', data: { n: 1 } } },
    ];
    expect((await postSse(s.httpUrl, st.session, frames.map((f) => JSON.stringify(f)).join('\n'))).status).toBe(204);
    await vi.waitFor(() => expect(st.frames().filter((f) => f['id'] === 2 || f['id'] === 3)).toHaveLength(2), WAIT);
    const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'project:sse', data: { n: 2 } }),
    });
    expect(res.status).toBe(200);
    await vi.waitFor(() => {
      const pubs = st.frames().filter((f) => f['push'] === 'pub');
      expect(pubs.map((p) => [p['offset'], p['data']])).toEqual([
        [1, { n: 1 }],
        [2, { n: 2 }],
      ]);
    }, WAIT);
  });

  it('closes a session that does not connect within the handshake deadline, with the close code of /ws', async () => {
    s = await startTestServer({ timeouts: { handshake: '300ms' } });
    const st = await open(s);
    await vi.waitFor(() => expect(closeEvent(st).code).toBe(3004), WAIT);
    await st.ended;
    expect((await postSse(s.httpUrl, st.session, '{"id":1,"method":"ping"}')).status).toBe(404);
  });

  it('keeps a stream open past the HTTP request and header timeouts: pings and pongs go on as over /ws', async () => {
    s = await startTestServer({ timeouts: { httpRequest: '1s', httpHeaders: '1s', ping: '1500ms', pong: '2s' } });
    const { st } = await connected(s);
    await vi.waitFor(() => expect(st.frames().some((f) => f['push'] === 'ping')).toBe(true), { timeout: 8_000, interval: 20 });
    expect((await postSse(s.httpUrl, st.session, '{"method":"pong"}')).status).toBe(204);
    await vi.waitFor(() => expect(st.frames().filter((f) => f['push'] === 'ping').length).toBeGreaterThanOrEqual(2), { timeout: 8_000, interval: 20 });
    expect((await postSse(s.httpUrl, st.session, '{"method":"pong"}\n{"id":5,"method":"ping"}')).status).toBe(204);
    await vi.waitFor(() => expect(st.frames().some((f) => f['id'] === 5)).toBe(true), WAIT);
    expect(st.events.some((e) => e.event === 'close')).toBe(false);
  });

  it('refuses a stream from an Origin that is not allowed, like an upgrade', async () => {
    s = await startTestServer({ allowedOrigins: ['https://app.example'] });
    const refused = await open(s, { origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 103, temporary: false } });
    const ok = await open(s, { origin: 'https://app.example' });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example');
  });

  it('counts new streams against newConnectionsPerIpPerSecond with WebSocket upgrades', async () => {
    s = await startTestServer({ limits: { newConnectionsPerIpPerSecond: 2 } });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await open(s as TestServer)).status);
    expect(statuses.filter((x) => x === 429).length).toBeGreaterThan(0);
    expect(statuses.filter((x) => x === 200).length).toBeLessThanOrEqual(5);
  });

  it('on shutdown sends 3001 on every stream and ends it, without waiting for the readers', async () => {
    s = await startTestServer();
    const { st } = await connected(s);
    const idle = await open(s);
    await s.server.node.drain();
    // While draining, new streams are refused as upgrades are.
    const refused = await open(s);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('2');
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 116 } });
    const started = Date.now();
    await s.close();
    s = undefined;
    expect(Date.now() - started).toBeLessThan(3_000);
    for (const x of [st, idle]) {
      await x.ended;
      expect(closeEvent(x).code).toBe(3001);
    }
  });

  it('shutdown waits neither for a stream whose reader never closes nor for a connection that never sent a request', async () => {
    s = await startTestServer();
    const server = s;
    const stuck = connect(s.port, '127.0.0.1');
    const idle = connect(s.port, '127.0.0.1');
    let got = '';
    stuck.setEncoding('utf8');
    stuck.on('data', (d: string) => {
      got += d;
    });
    stuck.on('error', () => {});
    idle.on('error', () => {});
    // This reader stops reading and never closes its side.
    stuck.write('GET /ws/sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    await vi.waitFor(() => expect(got).toContain('event: session'), WAIT);
    stuck.pause();
    await vi.waitFor(() => expect(server.server.node.clients.size).toBe(1), WAIT);
    const started = Date.now();
    await s.close();
    s = undefined;
    expect(Date.now() - started).toBeLessThan(3_000);
    stuck.destroy();
    idle.destroy();
  });
});
