/**
 * The fallback transport on the server: `GET /ws/sse` opens a Server-Sent Events stream
 * carrying the same frames as `/ws`, `POST /ws/sse?session=…` carries the client's frames.
 * A session is a connection like a WebSocket one: the same admission checks, handshake
 * deadline, limits and drain. Real server on port 0, real HTTP.
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
    expect(st.session).toMatch(/^[A-Za-z0-9_-]{24}$/);
    // Counted like any connection.
    await vi.waitFor(() => expect(s?.server.node.clients.size).toBe(1), WAIT);
    st.close();
    await vi.waitFor(() => expect(s?.server.node.clients.size).toBe(0), WAIT);
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
    expect((await open(s)).status).toBe(503);
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

describe('hostile POSTs on the fallback', () => {
  it('a POST for an unknown session is 404 with a typed error', async () => {
    s = await startTestServer();
    const r = await postSse(s.httpUrl, 'no-such-session', '{"id":1,"method":"ping"}');
    expect(r.status).toBe(404);
    expect(r.body?.error).toMatchObject({ code: 117 });
  });

  it("a session id of another tenant's connection: its public client id is unknown, and its session from another Origin is 403", async () => {
    s = await startTestServer({ allowedOrigins: ['https://a.example', 'https://b.example'] });
    const a = await connected(s, 'acme', { origin: 'https://a.example' });
    const b = await connected(s, 'other', { origin: 'https://b.example' });
    // The client id shows in presence; it is not the session id, which only the stream carries.
    const byClientId = await postSse(s.httpUrl, a.result.client, '{"id":9,"method":"subscribe","params":{"channel":"project:1"}}', {
      origin: 'https://b.example',
    });
    expect(byClientId.status).toBe(404);
    const foreign = await postSse(s.httpUrl, a.st.session, '{"id":9,"method":"subscribe","params":{"channel":"project:1"}}', {
      origin: 'https://b.example',
    });
    expect(foreign.status).toBe(403);
    expect(foreign.body?.error).toMatchObject({ code: 103 });
    // Neither connection ran the frame.
    expect(a.st.frames().some((f) => f['id'] === 9)).toBe(false);
    expect(b.st.frames().some((f) => f['id'] === 9)).toBe(false);
    expect((await postSse(s.httpUrl, a.st.session, '{"id":10,"method":"ping"}', { origin: 'https://a.example' })).status).toBe(204);
    await vi.waitFor(() => expect(a.st.frames().some((f) => f['id'] === 10)).toBe(true), WAIT);
  });

  it('an oversized POST is 413 and closes the session with 1009, as an oversized frame does', async () => {
    s = await startTestServer({ limits: { maxMessageBytes: 4096 } });
    const { st } = await connected(s);
    const ok = await postSse(s.httpUrl, st.session, `{"id":2,"method":"ping"}${' '.repeat(4096 - 24)}`);
    expect(ok.status).toBe(204);
    const big = await postSse(s.httpUrl, st.session, JSON.stringify({ id: 3, method: 'publish', params: { channel: 'project:x', data: 'x'.repeat(1 << 20) } }));
    expect(big.status).toBe(413);
    expect(big.body?.error).toMatchObject({ code: 114 });
    await vi.waitFor(() => expect(closeEvent(st).code).toBe(1009), WAIT);
    expect((await postSse(s.httpUrl, st.session, '{"id":4,"method":"ping"}')).status).toBe(404);
  });

  it('a flood of POSTs meets the command rate of /ws: refusals (111), then close 3007', async () => {
    s = await startTestServer({ limits: { commandsPerSecond: 10 } });
    const { st } = await connected(s);
    const statuses = await Promise.all(Array.from({ length: 80 }, (_, i) => postSse(s?.httpUrl as string, st.session, `{"id":${i + 100},"method":"ping"}`)));
    await vi.waitFor(() => expect(closeEvent(st).code).toBe(3007), WAIT);
    expect(st.frames().filter((f) => (f['error'] as { code?: number } | undefined)?.code === 111).length).toBeGreaterThanOrEqual(20);
    // Once closed, the rest find no session.
    expect(statuses.every((r) => r.status === 204 || r.status === 404)).toBe(true);
    expect(s.server.node.clients.size).toBe(0);
  });

  it('more than 4 POSTs of one session in flight at once: the 5th is 429, and the session goes on', async () => {
    s = await startTestServer();
    const { st } = await connected(s);
    const url = new URL(`${s.httpUrl}/ws/sse?session=${st.session}`);
    // Four POSTs whose bodies never finish arriving.
    const slow = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const sock = connect(Number(url.port), '127.0.0.1');
        sock.on('error', () => {});
        await new Promise((r) => sock.once('connect', r));
        sock.write(`POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n{"id":`);
        return sock;
      }),
    );
    await vi.waitFor(async () => expect((await postSse(s?.httpUrl as string, st.session, '{"id":7,"method":"ping"}')).status).toBe(429), WAIT);
    for (const sock of slow) sock.destroy();
    await vi.waitFor(async () => expect((await postSse(s?.httpUrl as string, st.session, '{"id":8,"method":"ping"}')).status).toBe(204), WAIT);
    await vi.waitFor(() => expect(st.frames().some((f) => f['id'] === 8)).toBe(true), WAIT);
  });

  it('a flood of empty POSTs counts like WebSocket pings and is stopped the same way (close 3007)', async () => {
    s = await startTestServer({ limits: { commandsPerSecond: 10 } });
    const { st } = await connected(s);
    await Promise.all(Array.from({ length: 80 }, () => postSse(s?.httpUrl as string, st.session, '')));
    await vi.waitFor(() => expect(closeEvent(st).code).toBe(3007), WAIT);
  });
});
