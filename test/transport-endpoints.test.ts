/**
 * A feature's own WebSocket endpoint on the server's port: routed by path beside `/ws`,
 * binary frames both ways, and every check `/ws` has (Origin, new connections per IP,
 * message size, handshake deadline, draining) applied to it; its connections are counted
 * with the kernel's and closed on drain. Real server on port 0, real sockets.
 */
import { defineFeature, type EndpointConnection } from '@switchboard/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { ManualClock } from './helpers/manual-clock.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const WAIT = { timeout: 5_000, interval: 5 };

/** Echoes each message back as it came (binary stays binary), upper-cased when it is text. */
function echoFeature(seen: { open: EndpointConnection[]; closed: number[] }) {
  return defineFeature<unknown, { prefix: string }>({
    name: 'echo',
    start: () => ({ prefix: '>' }),
    endpoints: () => [
      {
        path: '/echo',
        subprotocols: ['echo.v2', 'echo.v1'],
        binary: true,
        open(conn, request, service) {
          seen.open.push(conn);
          return {
            message(data, binary) {
              if (data.toString() === 'who') conn.send(Buffer.from(`${service.prefix}${request.protocol}|${request.query.get('doc')}`), false);
              else conn.send(binary ? data : Buffer.from(data.toString().toUpperCase()), binary);
            },
            closed(code) {
              seen.closed.push(code);
            },
          };
        },
      },
      {
        path: '/rooms',
        subpaths: true,
        binary: false,
        open(conn, request) {
          conn.send(Buffer.from(`room=${request.subpath}`), false);
          return { message() {} };
        },
      },
      {
        path: '/text-only',
        binary: false,
        open: () => ({ message() {} }),
      },
    ],
  });
}

interface Opened {
  ws: WebSocket;
  messages: Array<{ data: Buffer; binary: boolean }>;
  closed: Promise<{ code: number; reason: string }>;
}

/** Open a socket; resolves once open, or rejects with `HTTP <status>` when the upgrade is refused. */
function open(s: TestServer, path: string, options: { protocols?: string[]; origin?: string } = {}): Promise<Opened> {
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}${path}`, options.protocols ?? [], options.origin ? { origin: options.origin } : {});
  const messages: Opened['messages'] = [];
  ws.on('message', (data: Buffer, binary: boolean) => messages.push({ data, binary }));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, closed }));
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

describe('feature endpoints', () => {
  let s: TestServer | undefined;
  const seen = { open: [] as EndpointConnection[], closed: [] as number[] };

  const start = async (config: Parameters<typeof startTestServer>[0] = {}) => {
    seen.open.length = 0;
    seen.closed.length = 0;
    s = await startTestServer({ features: [echoFeature(seen)], ...config });
    return s;
  };

  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it('carries binary and text messages both ways on its own path, with the agreed subprotocol and the query', async () => {
    const server = await start();
    const c = await open(server, '/echo?doc=form-42', { protocols: ['echo.v1', 'echo.v2'] });
    expect(c.ws.protocol).toBe('echo.v2');
    const bytes = Buffer.from([0, 1, 2, 255, 254, 0x81]);
    c.ws.send(bytes);
    c.ws.send('hello');
    c.ws.send('who');
    await vi.waitFor(() => expect(c.messages).toHaveLength(3), WAIT);
    expect(c.messages[0]).toEqual({ data: bytes, binary: true });
    expect(c.messages[1]).toEqual({ data: Buffer.from('HELLO'), binary: false });
    expect(c.messages[2]).toEqual({ data: Buffer.from('>echo.v2|form-42'), binary: false });
    c.ws.close(1000);
    await vi.waitFor(() => expect(seen.closed).toEqual([1000]), WAIT);
  });

  it('routes the paths below an endpoint that takes subpaths to it, percent-decoded, and only below a slash', async () => {
    const server = await start();
    for (const [path, room] of [
      ['/rooms', ''],
      ['/rooms/doc:form-42?token=x', 'doc:form-42'],
      ['/rooms/doc%3Aa%20b/c', 'doc:a b/c'],
      ['/rooms/%E0%A4%A', '%E0%A4%A'],
    ] as const) {
      const c = await open(server, path);
      await vi.waitFor(() => expect(c.messages.map((m) => m.data.toString())).toEqual([`room=${room}`]), WAIT);
      c.ws.close();
    }
    await expect(open(server, '/roomsx')).rejects.toThrow('HTTP 404');
    // An endpoint without subpaths takes its exact path only.
    await expect(open(server, '/echo/doc:1')).rejects.toThrow('HTTP 404');
  });

  it('frames one payload sent to many connections the same for each', async () => {
    const server = await start();
    const clients = await Promise.all([1, 2, 3].map(() => open(server, '/echo')));
    await vi.waitFor(() => expect(seen.open).toHaveLength(3), WAIT);
    const payload = Buffer.from('one payload, three sockets');
    for (const conn of seen.open) conn.send(payload, true);
    for (const c of clients) await vi.waitFor(() => expect(c.messages).toEqual([{ data: payload, binary: true }]), WAIT);
  });

  it('leaves /ws as it was and answers 404 for a path nobody declared', async () => {
    const server = await start();
    const kernel = await open(server, '/ws', { protocols: ['switchboard.v1.json'] });
    expect(kernel.ws.protocol).toBe('switchboard.v1.json');
    kernel.ws.send(new Uint8Array([1, 2, 3]));
    expect((await kernel.closed).code).toBe(3501);
    await expect(open(server, '/echo/')).rejects.toThrow('HTTP 404');
    await expect(open(server, '/nope')).rejects.toThrow('HTTP 404');
  });

  it('closes with 1003 on a binary message to an endpoint that takes text only', async () => {
    const server = await start();
    const c = await open(server, '/text-only');
    c.ws.send(Buffer.from([1, 2]));
    expect((await c.closed).code).toBe(1003);
  });

  it('refuses a foreign Origin with 403', async () => {
    const server = await start({ allowedOrigins: ['https://app.example'] });
    await expect(open(server, '/echo', { origin: 'https://evil.example' })).rejects.toThrow('HTTP 403');
    const ok = await open(server, '/echo', { origin: 'https://app.example' });
    ok.ws.close();
  });

  it('counts new connections per IP with /ws and refuses beyond the rate with 429', async () => {
    const server = await start({ limits: { newConnectionsPerIpPerSecond: 1 } });
    // Burst 2: one on /ws and one on /echo take it, the next on /echo is refused.
    const kernel = await open(server, '/ws');
    const first = await open(server, '/echo');
    await expect(open(server, '/echo')).rejects.toThrow('HTTP 429');
    kernel.ws.close();
    first.ws.close();
  });

  it('closes a message over the size limit with 1009', async () => {
    const server = await start({ limits: { maxMessageBytes: 1024 } });
    const c = await open(server, '/echo');
    c.ws.send(Buffer.alloc(1025, 1));
    expect((await c.closed).code).toBe(1009);
  });

  it('closes a connection that sends nothing within the handshake deadline with 3004, and not one that spoke', async () => {
    const clock = new ManualClock();
    const server = await start({ now: clock.now, timeouts: { handshake: '10s' } });
    clock.onMove(() => server.server.node.wheel.advance());
    const silent = await open(server, '/echo');
    const talker = await open(server, '/echo');
    talker.ws.send('hi');
    await vi.waitFor(() => expect(talker.messages).toHaveLength(1), WAIT);
    clock.advance(10_000);
    expect((await silent.closed).code).toBe(3004);
    // The talker passed the deadline: it still echoes after the silent one was closed.
    talker.ws.send('still here');
    await vi.waitFor(() => expect(talker.messages.map((m) => m.data.toString())).toEqual(['HI', 'STILL HERE']), WAIT);
    talker.ws.close();
  });

  it("counts its connections with the kernel's, closes them with 3001 on drain and refuses new ones with 503", async () => {
    const server = await start();
    const gauge = async () => {
      const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
      return Number(/^switchboard_connections (\d+)/m.exec(text)?.[1]);
    };
    const kernel = await open(server, '/ws');
    const c = await open(server, '/echo');
    await vi.waitFor(async () => expect(await gauge()).toBe(2), WAIT);
    const drained = server.server.node.drain();
    expect((await c.closed).code).toBe(3001);
    expect((await kernel.closed).code).toBe(3001);
    await drained;
    await expect(open(server, '/echo')).rejects.toThrow('HTTP 503');
    await vi.waitFor(async () => expect(await gauge()).toBe(0), WAIT);
  });

  it('closes a connection that stops reading with 3006 once queueMaxBytes are unwritten', async () => {
    const server = await start({ limits: { queueMaxBytes: 262_144 } });
    const c = await open(server, '/echo');
    await vi.waitFor(() => expect(seen.open).toHaveLength(1), WAIT);
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const conn = seen.open[0] as EndpointConnection;
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    while (!conn.closed) {
      expect(sent, 'sent 60 MB to a socket that does not read without closing it').toBeLessThan(1000);
      conn.send(chunk, true);
      sent++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(server.server.node.stats.disconnects.get(3006)).toBe(1);
    (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect((await c.closed).code).toBe(3006);
  });

  it('sends a state larger than queueMaxBytes in chunks, each after the previous drained, to a slow reader', async () => {
    const server = await start({ limits: { queueMaxBytes: 262_144 } });
    const c = await open(server, '/echo');
    await vi.waitFor(() => expect(seen.open).toHaveLength(1), WAIT);
    const socket = (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const conn = seen.open[0] as EndpointConnection;
    const chunk = Buffer.alloc(128 * 1024, 9);
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    // Fill the kernel's socket buffers until the server holds unwritten bytes.
    let sent = 0;
    while (conn.bufferedAmount() === 0) {
      expect(sent, 'the socket buffers never filled').toBeLessThan(500);
      conn.send(chunk, true);
      sent++;
      await turn();
    }
    let drained = false;
    const first = conn.drained().then(() => {
      drained = true;
    });
    await turn();
    expect(drained).toBe(false);
    socket.resume();
    await first;
    for (let i = 0; i < 16; i++) {
      conn.send(chunk, true);
      await conn.drained();
    }
    await vi.waitFor(() => expect(c.messages).toHaveLength(sent + 16), WAIT);
    expect(conn.closed).toBe(false);
    expect(server.server.node.stats.disconnects.get(3006)).toBeUndefined();
    c.ws.close();
  });

  it('refuses a feature endpoint path that is taken', async () => {
    const clash = defineFeature({ name: 'clash', endpoints: () => [{ path: '/ws', binary: true, open: () => ({ message() {} }) }] });
    await expect(startTestServer({ features: [clash] })).rejects.toMatchObject({ code: 'SB_ERR_FEATURE_MANIFEST' });
  });
});
