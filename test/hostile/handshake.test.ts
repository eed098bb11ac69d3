import { type Socket, connect as tcpConnect } from 'node:net';
import { ErrorCode } from '@switchboard/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../helpers/manual-clock.js';
import { expectClosed, hostileServer, processErrors } from './harness.js';
import { acceptFor, encodeFrame, type HandshakeOptions, handshakeRequest, Op, RSV1, type WireClient } from './wire.js';

/**
 * The HTTP upgrade and the first seconds of a connection: malformed handshakes, junk
 * extensions and subprotocols, oversized and too many headers, slow headers, sockets that
 * upgrade and stay silent, and foreign Origins. Refusals are HTTP statuses before any
 * WebSocket exists; nothing hangs and nothing crashes.
 */

const key16 = Buffer.alloc(16, 7).toString('base64');

interface HandshakeCase {
  name: string;
  /** Options for the generated request, or the raw request text. */
  request: HandshakeOptions | string;
  status: number;
  /** Response headers that must (string) or must not (null) be present. */
  headers?: Record<string, string | null>;
}

const NO_HOST = `GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key16}\r\n\r\n`;
const many = (n: number, prefix = 'x-h') => Array.from({ length: n }, (_, i) => [`${prefix}${i}`, '1'] as [string, string]);

const handshakeCases: HandshakeCase[] = [
  { name: 'a valid request (control)', request: {}, status: 101 },
  { name: 'missing Sec-WebSocket-Key', request: { key: null }, status: 400 },
  { name: "Sec-WebSocket-Key 'abc'", request: { key: 'abc' }, status: 400 },
  { name: 'Sec-WebSocket-Key of 15 bytes', request: { key: Buffer.alloc(15, 1).toString('base64') }, status: 400 },
  { name: 'Sec-WebSocket-Key of 17 bytes', request: { key: Buffer.alloc(17, 1).toString('base64') }, status: 400 },
  { name: 'Sec-WebSocket-Key with characters outside base64', request: { key: '!!!!!!!!!!!!!!!!!!!!!!==' }, status: 400 },
  { name: 'two Sec-WebSocket-Key headers', request: { key: key16, headers: [['Sec-WebSocket-Key', key16]] }, status: 400 },
  { name: 'missing Sec-WebSocket-Version', request: { version: null }, status: 400, headers: { 'sec-websocket-version': '13, 8' } },
  { name: 'Sec-WebSocket-Version 12', request: { version: '12' }, status: 400 },
  { name: 'Sec-WebSocket-Version 14', request: { version: '14' }, status: 400 },
  { name: "Sec-WebSocket-Version 'abc'", request: { version: 'abc' }, status: 400 },
  { name: "Sec-WebSocket-Version '13, 13'", request: { version: '13, 13' }, status: 400 },
  { name: 'Sec-WebSocket-Version 1e400', request: { version: '1e400' }, status: 400 },
  { name: "Upgrade: 'websocket2'", request: { upgrade: 'websocket2' }, status: 400 },
  { name: "Upgrade: 'WebSocket' (case-insensitive)", request: { upgrade: 'WebSocket' }, status: 101 },
  { name: 'POST with an upgrade', request: { method: 'POST' }, status: 405 },
  { name: 'another path (/WS)', request: { path: '/WS' }, status: 404 },
  { name: 'another path (/ws/)', request: { path: '/ws/' }, status: 404 },
  { name: 'a query string on /ws is ignored', request: { path: '/ws?token=abc&x=%00' }, status: 101 },
  { name: 'absolute-form request target', request: { path: 'http://evil.example/ws' }, status: 404 },
  {
    name: 'junk Sec-WebSocket-Extensions are ignored (no compression negotiated)',
    request: { extensions: 'permessage-deflate; client_max_window_bits=abc, x-junk;;;, ,="' },
    status: 101,
    headers: { 'sec-websocket-extensions': null },
  },
  {
    name: "a browser's permessage-deflate offer is answered with server context takeover, none for the client, and a 2^10-byte client window",
    request: { extensions: 'permessage-deflate; client_max_window_bits' },
    status: 101,
    headers: { 'sec-websocket-extensions': 'permessage-deflate; client_no_context_takeover; client_max_window_bits=10' },
  },
  {
    name: 'an offer asking for server_no_context_takeover gets it',
    request: { extensions: 'permessage-deflate; server_no_context_takeover; client_max_window_bits' },
    status: 101,
    headers: { 'sec-websocket-extensions': 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=10' },
  },
  ...[
    ['client_max_window_bits=7', 'permessage-deflate; client_max_window_bits=7'],
    ['client_max_window_bits=16', 'permessage-deflate; client_max_window_bits=16'],
    ['a duplicated client_max_window_bits', 'permessage-deflate; client_max_window_bits=10; client_max_window_bits=12'],
    ['a duplicated server_no_context_takeover', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['server_max_window_bits=9 (below the window the server compresses with)', 'permessage-deflate; server_max_window_bits=9'],
    ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits'],
    ['an unknown parameter', 'permessage-deflate; x-mode=fast'],
    ['a flag with a value', 'permessage-deflate; client_no_context_takeover=yes'],
  ].map(([what, extensions]) => ({
    name: `an illegal permessage-deflate offer (${what}) is declined: no compression, no refusal`,
    request: { extensions: extensions as string },
    status: 101,
    headers: { 'sec-websocket-extensions': null },
  })),
  {
    name: 'of an illegal offer and a legal one, the legal one is answered',
    request: { extensions: 'permessage-deflate; client_max_window_bits=7, permessage-deflate' },
    status: 101,
    headers: { 'sec-websocket-extensions': 'permessage-deflate; client_no_context_takeover' },
  },
  {
    name: 'subprotocol switchboard.v1.json is selected',
    request: { protocol: 'chat, switchboard.v1.json' },
    status: 101,
    headers: { 'sec-websocket-protocol': 'switchboard.v1.json' },
  },
  { name: 'unknown subprotocols: upgrade without one', request: { protocol: 'foo, bar' }, status: 101, headers: { 'sec-websocket-protocol': null } },
  { name: "subprotocol list with an empty item ('a,,b')", request: { protocol: 'a,,b' }, status: 400 },
  { name: "subprotocol with a space inside ('a b')", request: { protocol: 'a b' }, status: 400 },
  { name: 'a duplicated subprotocol', request: { protocol: 'x, x' }, status: 400 },
  { name: 'Sec-WebSocket-Protocol of 16 KB of whitespace', request: { protocol: ' '.repeat(16 * 1024) }, status: 400 },
  {
    name: 'Sec-WebSocket-Protocol of 2,000 names (15 KB)',
    request: { protocol: Array.from({ length: 2000 }, (_, i) => `p${i}`).join(',') },
    status: 101,
    headers: { 'sec-websocket-protocol': null },
  },
  { name: 'a 17 KB header', request: { headers: [['x-big', 'a'.repeat(17_000)]] }, status: 431 },
  { name: 'a 100 KB Origin', request: { origin: `http://${'a'.repeat(100_000)}.example` }, status: 431 },
  { name: '5,000 headers (over the size limit)', request: { headers: many(5000) }, status: 431 },
  { name: '2,000 tiny headers after the WebSocket ones: the first 100 are read', request: { headers: many(2000) }, status: 101 },
  {
    name: 'the key after 150 other headers is not read (maxHeadersCount 100)',
    request: `GET /ws HTTP/1.1\r\nHost: x\r\n${many(150)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\r\n')}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key16}\r\n\r\n`,
    status: 400,
  },
  { name: 'a NUL byte in a header value', request: { headers: [['x-bad', 'a\u0000b']] }, status: 400 },
  { name: 'a header name with a space', request: { headers: [['x bad', '1']] }, status: 400 },
  { name: 'a request line of garbage', request: 'GARBAGE\r\n\r\n', status: 400 },
];

const originCases: Array<{ name: string; origin?: string; status: number }> = [
  { name: 'no Origin (a non-browser client)', status: 101 },
  { name: 'http://localhost:3000 (development)', origin: 'http://localhost:3000', status: 101 },
  { name: 'https://localhost (development)', origin: 'https://localhost', status: 101 },
  { name: 'http://127.0.0.1:8080 (development)', origin: 'http://127.0.0.1:8080', status: 101 },
  { name: 'http://[::1]:3000 (development)', origin: 'http://[::1]:3000', status: 101 },
  { name: 'https://evil.example', origin: 'https://evil.example', status: 403 },
  { name: 'a localhost look-alike subdomain', origin: 'http://localhost.evil.example', status: 403 },
  { name: 'userinfo that looks like localhost', origin: 'http://localhost@evil.example', status: 403 },
  { name: 'the string null (sandboxed iframe)', origin: 'null', status: 403 },
  { name: 'file://', origin: 'file://', status: 403 },
  { name: 'ws://localhost (not an http origin)', origin: 'ws://localhost', status: 403 },
  { name: 'an empty Origin', origin: '', status: 403 },
  { name: 'https://app.example when not configured', origin: 'https://app.example', status: 403 },
];

/** Connect, send `first`, then go quiet; resolve with how long until the server ended the socket and what it said. */
function slowRequest(port: number, first: string, trickleMs = 0): Promise<{ ms: number; response: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const sock: Socket = tcpConnect({ port, host: '127.0.0.1' });
    let response = '';
    let timer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => sock.destroy(), 10_000);
    sock.on('connect', () => {
      sock.write(first);
      if (trickleMs > 0) timer = setInterval(() => sock.write(`X-Slow-${Date.now()}: 1\r\n`), trickleMs);
    });
    sock.on('data', (d) => {
      response += d.toString('latin1');
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ ms: Date.now() - started, response });
    });
  });
}

describe('hostile handshakes', () => {
  // Short real ping and pong: the ping tests below watch them fire on the wheel's own timer.
  const ctx = hostileServer({ timeouts: { httpHeaders: '1s', httpRequest: '2s', ping: '400ms', pong: '300ms' } });

  it.each(handshakeCases)('$name → $status', async (tc) => {
    const c = typeof tc.request === 'string' ? await ctx().open({}, tc.request) : await ctx().open(tc.request);
    expect(c.response?.status, c.response?.body).toBe(tc.status);
    for (const [name, value] of Object.entries(tc.headers ?? {})) expect(c.response?.headers[name], name).toBe(value ?? undefined);
    if (tc.status === 101) {
      if (typeof tc.request !== 'string' && tc.request.key === undefined) expect(c.response?.headers['sec-websocket-accept']).toBe(acceptFor(c.key));
      expect((await c.call('ping'))['error']).toMatchObject({ code: ErrorCode.Unauthorized.code });
    } else {
      await c.waitEnd(3000);
    }
  });

  it.each(originCases)('Origin $name → $status', async ({ origin, status }) => {
    const c = await ctx().open(origin === undefined ? {} : { origin });
    expect(c.response?.status).toBe(status);
    if (status !== 101) await c.waitEnd(3000);
  });

  it('RSV1 after a declined permessage-deflate offer closes with 1002', async () => {
    const c = await ctx().open({ extensions: 'permessage-deflate; client_max_window_bits=7' });
    c.send({ opcode: Op.Text, payload: Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), rsv: RSV1 });
    await expectClosed(c, 1002);
  });

  it('a command pipelined in the same TCP write as the upgrade request is answered', async () => {
    const c = await ctx().open({ head: encodeFrame({ opcode: Op.Text, payload: '{"id":1,"method":"ping"}' }) });
    expect(c.upgraded).toBe(true);
    expect((await c.reply(1))['error']).toMatchObject({ code: ErrorCode.Unauthorized.code });
  });

  it('a Content-Length body on the upgrade request is read as WebSocket bytes (here: a protocol error, 1002)', async () => {
    const request = handshakeRequest({ headers: [['Content-Length', '5']] });
    const c = await ctx().open({ head: Buffer.from('hello') }, request);
    expect(c.upgraded).toBe(true);
    await expectClosed(c, 1002);
  });

  describe('deadlines', () => {
    it('a connected client that never answers pings is closed with 3005 after ping + pong', async () => {
      const c = await ctx().open({ label: 'acme' });
      expect((await c.call('connect', { token: await ctx().token('quiet') }))['result']).toBeDefined();
      await c.waitJson((f) => f['push'] === 'ping', 3000);
      await expectClosed(c, 3005, 3000);
    });

    it('a connected client that answers pings stays connected past several ping intervals', async () => {
      const c = await ctx().connect('chatty');
      await c.until(() => c.json.filter((f) => f['push'] === 'ping').length >= 3, 5000, 'three pings');
      expect(c.close).toBeNull();
    });

    it('a partial HTTP request that then goes silent is closed by timeouts.httpRequest at the latest', async () => {
      const { ms } = await slowRequest(ctx().port, 'GET /ws HTTP/1.1\r\nHost: x\r\n');
      expect(ms).toBeLessThan(3000);
    });
  });
});

describe("hostile handshakes: the handshake deadline on the server's clock", () => {
  const clock = new ManualClock();
  // No ping falls due while the tests move the clock.
  const ctx = hostileServer({ now: clock.now, timeouts: { handshake: '10s', ping: '1h' } });
  beforeAll(() => clock.onMove(() => ctx().s.server.node.wheel.advance()));
  const pongs = (c: WireClient) => c.frames.filter((f) => f.opcode === Op.Pong).length;

  it('an upgraded socket that stays silent is closed with 3004 after timeouts.handshake', async () => {
    const c = await ctx().open();
    clock.advance(10_000);
    await expectClosed(c, 3004, 3000);
  });

  it('an upgraded socket that sends half a frame header and stops is closed with 3004', async () => {
    const c = await ctx().open();
    c.sendRaw(encodeFrame({ opcode: Op.Text, payload: '{"id":1}' }).subarray(0, 1));
    // Half a header has no answer to wait for: a request to the server after it is read after it.
    await fetch(`${ctx().s.httpUrl}/healthz`);
    clock.advance(10_000);
    await expectClosed(c, 3004, 3000);
  });

  it('an upgraded socket that never finishes a fragmented message is closed with 3004', async () => {
    const c = await ctx().open();
    c.send({ opcode: Op.Text, payload: '{"id":1,', fin: false });
    // A control frame may come between fragments: its pong says the fragment was read.
    c.send({ opcode: Op.Ping, payload: 'read?' });
    await c.until(() => pongs(c) === 1, 3000, 'a pong');
    clock.advance(10_000);
    await expectClosed(c, 3004, 3000);
  });

  it('an upgraded socket that only sends pings is closed with 3004', async () => {
    const c = await ctx().open();
    for (let n = 1; n <= 4; n++) {
      c.send({ opcode: Op.Ping, payload: 'keepalive' });
      await c.until(() => pongs(c) === n, 3000, `pong ${n}`);
      clock.advance(2_500);
    }
    await expectClosed(c, 3004, 3000);
  });
});

describe('hostile handshakes: configured Origins', () => {
  const ctx = hostileServer({ allowedOrigins: ['https://app.example'] });

  it.each([
    ['https://app.example', 101],
    ['http://localhost:5173', 101],
    ['https://app.example.evil.example', 403],
    ['https://evil.example/https://app.example', 403],
    ['https://APP.EXAMPLE', 403],
    ['https://app.example:443', 403],
    ['http://app.example', 403],
    ['https://app.example/', 403],
  ] as const)('Origin %s → %i', async (origin, status) => {
    const c = await ctx().open({ origin });
    expect(c.response?.status).toBe(status);
  });
});

describe('hostile handshakes: production mode', () => {
  const ctx = hostileServer({ development: false, auth: { secret: 'a-production-secret-of-at-least-32-characters' } });

  it.each([
    ['http://localhost:3000', 403],
    ['http://127.0.0.1:8080', 403],
    ['https://app.example', 403],
  ] as const)('Origin %s → %i (no localhost exception outside development)', async (origin, status) => {
    const c = await ctx().open({ origin });
    expect(c.response?.status).toBe(status);
  });

  it('a request without Origin (non-browser) is upgraded', async () => {
    const c = await ctx().open();
    expect(c.response?.status).toBe(101);
  });
});

/** Gaps this suite found in the server, fixed since; kept as regression cases. */
describe('fixed gaps: handshake', () => {
  const ctx = hostileServer({ timeouts: { httpHeaders: '1s', httpRequest: '2s' } });

  it('GAP-1: an upgrade to another path whose client resets the connection does not raise an uncaught ECONNRESET', async () => {
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const sock = tcpConnect({ port: ctx().port, host: '127.0.0.1' });
        sock.on('error', () => {});
        sock.on('connect', () => {
          sock.write(handshakeRequest({ path: '/not-the-websocket-path' }));
          sock.resetAndDestroy();
          resolve();
        });
      });
    }
    const health = await fetch(`${ctx().s.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(processErrors.map(String)).toEqual([]);
  });

  it('GAP-3: an HTTP/1.1 upgrade request without Host is refused with 400 (RFC 9112 §3.2)', async () => {
    const c = await ctx().open({}, NO_HOST);
    expect(c.response?.status).toBe(400);
  });

  it('GAP-2: a request whose headers trickle in is answered 408 within timeouts.httpHeaders', async () => {
    const { ms, response } = await slowRequest(ctx().port, 'GET /ws HTTP/1.1\r\nHost: x\r\n', 300);
    expect(ms).toBeLessThan(2500);
    expect(response).toMatch(/^HTTP\/1\.1 408/);
  });

  it('GAP-2: a request whose headers stop is answered 408 within timeouts.httpHeaders, not at the idle timeout', async () => {
    const { ms, response } = await slowRequest(ctx().port, 'GET /ws HTTP/1.1\r\nHost: x\r\n');
    expect(ms).toBeLessThan(1800);
    expect(response).toMatch(/^HTTP\/1\.1 408/);
  });
});
