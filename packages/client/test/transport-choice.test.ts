import { describe, expect, it, vi } from 'vitest';
import { ClientCode, type ClientEvents, type FetchLike } from '../src/index.js';
import { CONNECT_RESULT, createClient, FakeSocket, flush, record, useFakes } from './fake-socket.js';

useFakes();

/** A fetch that plays the server's fallback endpoint: streams the test controls, POSTs recorded. */
class FakeFallback {
  readonly posts: Array<{ url: string; body: string }> = [];
  readonly streams: Array<{ url: string; push(text: string): void; end(): void }> = [];
  postStatus = 204;

  readonly fetch: FetchLike = async (url, init) => {
    if (init?.method === 'POST') {
      this.posts.push({ url, body: init.body ?? '' });
      return { ok: this.postStatus < 300, status: this.postStatus, json: async () => null };
    }
    // The GET that asks why a WebSocket was refused: the server says nothing is wrong.
    if (!url.endsWith('/ws/sse')) return { ok: true, status: 200, json: async () => ({ websocket: 'ok' }) };
    const chunks: Array<{ done: boolean; value?: Uint8Array }> = [];
    let wake: (() => void) | null = null;
    const encoder = new TextEncoder();
    const add = (c: { done: boolean; value?: Uint8Array }) => {
      chunks.push(c);
      wake?.();
    };
    init?.signal?.addEventListener('abort', () => add({ done: true }));
    this.streams.push({ url, push: (text) => add({ done: false, value: encoder.encode(text) }), end: () => add({ done: true }) });
    const body = {
      getReader: () => ({
        read: async () => {
          while (chunks.length === 0) await new Promise<void>((r) => (wake = r));
          return chunks.shift() as { done: boolean; value?: Uint8Array };
        },
        cancel: async () => {},
      }),
    };
    return { ok: true, status: 200, body, json: async () => null };
  };

  /** Frames POSTed so far, parsed. */
  frames(): Array<{ id?: number; method: string }> {
    return this.posts.filter((p) => p.body !== '').flatMap((p) => p.body.split('\n').map((l) => JSON.parse(l) as { id?: number; method: string }));
  }

  /** Open the latest stream (session event) and accept its connect. */
  async accept(session = 's1'): Promise<void> {
    const stream = this.streams.at(-1);
    if (!stream) throw new Error('no stream opened');
    stream.push(`event: session\ndata: {"session":"${session}"}\n\n`);
    await flush();
    const connect = this.frames()
      .filter((f) => f.method === 'connect')
      .at(-1);
    if (!connect) throw new Error('no connect POSTed');
    stream.push(`data: ${JSON.stringify({ id: connect.id, result: CONNECT_RESULT })}\n\n`);
    await flush();
  }
}

describe('transport choice', () => {
  it('falls back to SSE after fallbackAfter WebSocket attempts fail before opening, and says so in client.transport', async () => {
    const server = new FakeFallback();
    const client = createClient({ fetch: server.fetch, fallbackAfter: 2 });
    client.connect();
    FakeSocket.last().serverClose(1006);
    vi.advanceTimersByTime(250);
    expect(FakeSocket.all).toHaveLength(2);
    expect(server.streams).toHaveLength(0);
    FakeSocket.last().serverClose(1006);
    vi.advanceTimersByTime(500);
    expect(FakeSocket.all).toHaveLength(2);
    expect(server.streams.map((s) => s.url)).toEqual(['http://test.local/ws/sse']);
    await server.accept();
    expect(client.state).toBe('connected');
    expect(client.transport).toBe('sse');
    expect(server.posts[0]?.url).toBe('http://test.local/ws/sse?session=s1');
  });

  it('a close the server sent (not a transport failure) does not count towards the fallback', () => {
    const server = new FakeFallback();
    const client = createClient({ fetch: server.fetch, fallbackAfter: 1 });
    client.connect();
    const socket = FakeSocket.last();
    socket.open();
    socket.serverClose(3004, 'stale');
    vi.advanceTimersByTime(250);
    expect(FakeSocket.all).toHaveLength(2);
    expect(server.streams).toHaveLength(0);
  });

  it('no connect reply within connectTimeout counts as a failed WebSocket attempt', () => {
    const server = new FakeFallback();
    const client = createClient({ fetch: server.fetch, fallbackAfter: 1, connectTimeout: 1000 });
    client.connect();
    FakeSocket.last().open();
    vi.advanceTimersByTime(1000 + 250);
    expect(server.streams).toHaveLength(1);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it("transports: ['websocket'] never tries the fallback", () => {
    const server = new FakeFallback();
    const client = createClient({ fetch: server.fetch, fallbackAfter: 1, transports: ['websocket'] });
    client.connect();
    for (let i = 0; i < 5; i++) {
      FakeSocket.last().serverClose(1006);
      vi.advanceTimersByTime(20_000);
    }
    expect(FakeSocket.all.length).toBeGreaterThanOrEqual(5);
    expect(server.streams).toHaveLength(0);
  });

  it('on SSE, probes a WebSocket every upgradeInterval and, once one opens, reconnects over WebSocket (code 27)', async () => {
    const server = new FakeFallback();
    const client = createClient({ fetch: server.fetch, transports: ['websocket', 'sse'], fallbackAfter: 1, upgradeInterval: 5000 });
    const log = record<ClientEvents>(client, ['connecting', 'connected']);
    client.connect();
    FakeSocket.last().serverClose(1006);
    vi.advanceTimersByTime(250);
    await server.accept();
    expect(client.transport).toBe('sse');
    vi.advanceTimersByTime(5000);
    const refused = FakeSocket.last();
    expect(FakeSocket.all).toHaveLength(2);
    refused.serverClose(1006);
    expect(client.transport).toBe('sse');
    vi.advanceTimersByTime(5000);
    const probe = FakeSocket.last();
    expect(FakeSocket.all).toHaveLength(3);
    probe.open();
    expect(probe.closedByClient?.code).toBe(1000);
    expect(log.at(-1)).toEqual(['connecting', { code: ClientCode.TransportUpgrade.code, reason: 'switching to WebSocket' }]);
    // The session's stream is closed cleanly (a close POST), then the next attempt is a WebSocket.
    await flush();
    expect(server.posts.at(-1)?.url).toBe('http://test.local/ws/sse?session=s1&close=1000');
    vi.advanceTimersByTime(250);
    const ws = FakeSocket.last();
    expect(FakeSocket.all).toHaveLength(4);
    ws.open();
    ws.reply('connect', CONNECT_RESULT);
    expect(client.transport).toBe('websocket');
  });

  it('reads events split across chunks, several frames per event, and the close event as the close code', async () => {
    const server = new FakeFallback();
    const client = createClient({ fetch: server.fetch, transports: ['sse'] });
    const log = record<ClientEvents>(client, ['connecting']);
    client.connect();
    await server.accept();
    const sub = client.subscribe('project:x');
    await flush();
    const subscribe = server.frames().find((f) => f.method === 'subscribe') as { id: number };
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    const stream = server.streams[0] as { push(t: string): void };
    stream.push(`data: {"id":${subscribe.id},"result":{"offset":0,"epoch":"e"}}\n\n:\n\n`);
    stream.push('data: {"push":"pub","channel":"project:x","offset":1,"data":1}\nda');
    stream.push('ta: {"push":"pub","channel":"project:x","offset":2,"data":2}\n\n');
    await flush();
    expect(got).toEqual([1, 2]);
    stream.push('event: close\ndata: {"code":3001,"reason":"shutdown"}\n\n');
    await flush();
    expect(log.at(-1)).toEqual(['connecting', { code: 3001, reason: 'shutdown' }]);
  });

  it('a POST answered 413 closes the connection with 1009 (no retry), as an oversized WebSocket message', async () => {
    const server = new FakeFallback();
    const client = createClient({ fetch: server.fetch, transports: ['sse'] });
    const log = record<ClientEvents>(client, ['disconnected']);
    client.connect();
    await server.accept();
    server.postStatus = 413;
    const call = client.call('ping', {}).catch((e: unknown) => e);
    await flush();
    await call;
    expect(client.state).toBe('disconnected');
    expect(log).toEqual([['disconnected', { code: 1009, reason: 'POST refused (HTTP 413)' }]]);
  });
});

describe('after an outage', () => {
  /** WebSocket and fallback both failing (the server down): attempts alternate, 100 ms apart. */
  async function outage(server: FakeFallback): Promise<void> {
    for (let round = 0; round < 2; round++) {
      FakeSocket.last().serverClose(1006);
      vi.advanceTimersByTime(100);
      FakeSocket.last().serverClose(1006);
      vi.advanceTimersByTime(100);
      expect(server.streams).toHaveLength(round + 1);
      if (round > 0) return;
      (server.streams.at(-1) as { end(): void }).end();
      await flush();
      vi.advanceTimersByTime(100);
    }
  }

  it('when the fallback failed too, the connection that lands on it probes a WebSocket at once and switches (code 27)', async () => {
    const server = new FakeFallback();
    const client = createClient({ fetch: server.fetch, upgradeInterval: 5000, connectTimeout: 0, backoff: { minDelay: 100, maxDelay: 100 } });
    const log = record<ClientEvents>(client, ['connecting']);
    client.connect();
    await outage(server);
    expect(FakeSocket.all).toHaveLength(4);
    await server.accept();
    expect(client.transport).toBe('sse');
    vi.advanceTimersByTime(0);
    const probe = FakeSocket.last();
    expect(FakeSocket.all).toHaveLength(5);
    probe.open();
    expect(log.at(-1)).toEqual(['connecting', { code: ClientCode.TransportUpgrade.code, reason: 'switching to WebSocket' }]);
    vi.advanceTimersByTime(100);
    expect(FakeSocket.all).toHaveLength(6);
    FakeSocket.last().open();
    FakeSocket.last().reply('connect', CONNECT_RESULT);
    expect(client.transport).toBe('websocket');
  });

  it('the outage is forgotten once connected: a later fall-back where only WebSockets fail waits upgradeInterval again', async () => {
    const server = new FakeFallback();
    const client = createClient({ fetch: server.fetch, upgradeInterval: 5000, connectTimeout: 0, backoff: { minDelay: 100, maxDelay: 100 } });
    client.connect();
    await outage(server);
    await server.accept('s1');
    vi.advanceTimersByTime(0);
    expect(FakeSocket.all).toHaveLength(5);
    // The probe is refused: WebSockets are blocked after all, so the next one waits the interval.
    FakeSocket.last().serverClose(1006);
    const sockets = FakeSocket.all.length;
    vi.advanceTimersByTime(4999);
    expect(FakeSocket.all).toHaveLength(sockets);
    // The stream drops and the client reconnects over the fallback (WebSockets were failing).
    (server.streams.at(-1) as { end(): void }).end();
    await flush();
    vi.advanceTimersByTime(100);
    expect(server.streams).toHaveLength(3);
    await server.accept('s2');
    expect(client.transport).toBe('sse');
    const before = FakeSocket.all.length;
    vi.advanceTimersByTime(4999);
    expect(FakeSocket.all).toHaveLength(before);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(before + 1);
  });
});

describe('upgrades that do not hold', () => {
  it('a switch to WebSocket that fails before connected doubles the wait before the next probe', async () => {
    const server = new FakeFallback();
    const client = createClient({ fetch: server.fetch, fallbackAfter: 1, upgradeInterval: 1000, connectTimeout: 500 });
    client.connect();
    FakeSocket.last().serverClose(1006);
    vi.advanceTimersByTime(250);
    await server.accept('s1');
    // The probe opens, the switch's WebSocket opens too but no connect reply comes back.
    vi.advanceTimersByTime(1000);
    FakeSocket.last().open();
    await flush();
    vi.advanceTimersByTime(250);
    FakeSocket.last().open();
    vi.advanceTimersByTime(500 + 500);
    expect(server.streams).toHaveLength(2);
    await server.accept('s2');
    expect(client.transport).toBe('sse');
    const sockets = FakeSocket.all.length;
    vi.advanceTimersByTime(1999);
    expect(FakeSocket.all).toHaveLength(sockets);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(sockets + 1);
  });
});
