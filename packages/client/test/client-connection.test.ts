import { describe, expect, it, vi } from 'vitest';
import { ClientCode, type ClientEvents, SwitchboardClient, SwitchboardError } from '../src/index.js';
import { acceptConnect, CONNECT_RESULT, createClient, FakeSocket, flush, record, useFakes } from './fake-socket.js';

const EVENTS: Array<keyof ClientEvents> = ['state', 'connecting', 'connected', 'disconnected', 'reconnecting', 'error'];

useFakes();

describe('client state machine', () => {
  it('goes disconnected → connecting → connected with {code, reason} on every transition', () => {
    const client = createClient({ name: 'web' });
    const log = record<ClientEvents>(client, EVENTS);
    expect(client.state).toBe('disconnected');
    client.connect();
    expect(client.state).toBe('connecting');
    const socket = FakeSocket.last();
    expect(socket.url).toBe('ws://test.local/ws');
    socket.open();
    expect(socket.frames).toEqual([{ id: 1, method: 'connect', params: { token: 't0', name: 'web' } }]);
    socket.reply('connect', CONNECT_RESULT);
    expect(client.state).toBe('connected');
    expect(client.session).toEqual({ client: 'c1', user: 'alice', tenant: 'acme', node: 'n1' });
    expect(log).toEqual([
      ['state', { state: 'connecting', previous: 'disconnected', code: 0, reason: 'connect called' }],
      ['connecting', { code: 0, reason: 'connect called' }],
      ['state', { state: 'connected', previous: 'connecting', code: 2, reason: 'connected' }],
      ['connected', { code: 2, reason: 'connected', client: 'c1', user: 'alice', tenant: 'acme', node: 'n1' }],
    ]);
  });

  it('disconnect() closes the socket, goes disconnected and does not reconnect', () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    const log = record<ClientEvents>(client, EVENTS);
    client.disconnect();
    expect(client.state).toBe('disconnected');
    expect(socket.closedByClient).toEqual({ code: 1000, reason: 'disconnect called' });
    expect(log).toEqual([
      ['state', { state: 'disconnected', previous: 'connected', code: 1, reason: 'disconnect called' }],
      ['disconnected', { code: 1, reason: 'disconnect called' }],
    ]);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('ignores events of a socket it has already left', () => {
    const client = createClient();
    client.connect();
    const old = acceptConnect();
    old.serverClose(1006);
    vi.advanceTimersByTime(250);
    acceptConnect();
    old.receive({ push: 'ping' });
    old.serverClose(3502, 'late');
    expect(client.state).toBe('connected');
  });
});

describe('reconnect', () => {
  it('reconnects after an abnormal close (1006) with "reconnecting in N ms"', () => {
    const client = createClient();
    client.connect();
    acceptConnect();
    const log = record<ClientEvents>(client, EVENTS);
    FakeSocket.last().serverClose(1006);
    expect(client.state).toBe('connecting');
    expect(log).toEqual([
      ['state', { state: 'connecting', previous: 'connected', code: 1006, reason: 'abnormal closure' }],
      ['connecting', { code: 1006, reason: 'abnormal closure' }],
      ['reconnecting', { code: 1006, reason: 'abnormal closure', delay: 250, attempt: 1 }],
    ]);
    vi.advanceTimersByTime(249);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2);
    acceptConnect();
    expect(client.state).toBe('connected');
  });

  it('backs off exponentially up to maxDelay and resets after a successful connect', () => {
    const client = createClient({ backoff: { minDelay: 100, maxDelay: 1000 } });
    const delays: number[] = [];
    client.on('reconnecting', (e) => delays.push(e.delay));
    client.connect();
    acceptConnect();
    for (let i = 0; i < 6; i++) {
      FakeSocket.last().serverClose(1006);
      vi.advanceTimersByTime(delays.at(-1)!);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    acceptConnect();
    FakeSocket.last().serverClose(1006);
    expect(delays.at(-1)).toBe(100);
  });

  it('applies full jitter from the injected random()', () => {
    const client = createClient({ random: () => 0.5 });
    const delays: number[] = [];
    client.on('reconnecting', (e) => delays.push(e.delay));
    client.connect();
    acceptConnect();
    FakeSocket.last().serverClose(3002);
    vi.advanceTimersByTime(delays[0]!);
    FakeSocket.last().serverClose(1006);
    vi.advanceTimersByTime(delays[1]!);
    FakeSocket.last().serverClose(1006);
    expect(delays).toEqual([250, 375, 625]);
  });

  it('reconnects after a server shutdown (3001) with an extra random delay', () => {
    const client = createClient({ random: () => 0.5 });
    const delays: number[] = [];
    client.on('reconnecting', (e) => delays.push(e.delay));
    client.connect();
    acceptConnect();
    FakeSocket.last().serverClose(3001, 'shutdown');
    expect(delays).toEqual([250 + 2500]);
    vi.advanceTimersByTime(2749);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it.each([
    [3500, 'invalid token'],
    [3502, 'disconnected by server'],
    [3503, 'connection limit reached'],
    [4500, 'app says no'],
  ])('does not reconnect after close %i', (code, reason) => {
    const client = createClient();
    const log = record<ClientEvents>(client, ['disconnected', 'reconnecting']);
    client.connect();
    acceptConnect();
    FakeSocket.last().serverClose(code, reason);
    expect(client.state).toBe('disconnected');
    expect(log).toEqual([['disconnected', { code, reason }]]);
    vi.advanceTimersByTime(120_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('retries a failed connection attempt while still connecting', () => {
    const client = createClient();
    const log = record<ClientEvents>(client, ['reconnecting', 'state']);
    client.connect();
    FakeSocket.last().serverClose(1006);
    expect(client.state).toBe('connecting');
    expect(log.at(-1)).toEqual(['reconnecting', { code: 1006, reason: 'abnormal closure', delay: 250, attempt: 1 }]);
    vi.advanceTimersByTime(250);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('gives up the attempt after connectTimeout and reconnects', () => {
    const client = createClient({ connectTimeout: 5000 });
    const log = record<ClientEvents>(client, ['reconnecting']);
    client.connect();
    FakeSocket.last().open();
    vi.advanceTimersByTime(5000);
    expect(FakeSocket.all[0]!.closedByClient).toEqual({ code: 1000, reason: 'connect timeout' });
    expect(log).toEqual([['reconnecting', { code: 4, reason: 'connect timeout', delay: 250, attempt: 1 }]]);
    vi.advanceTimersByTime(250);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('stops when connect is refused with a permanent reply error, and retries a temporary one', () => {
    const client = createClient();
    client.connect();
    let socket = FakeSocket.last();
    socket.open();
    socket.replyError('connect', { code: 116, message: 'service unavailable', temporary: true });
    expect(client.state).toBe('connecting');
    vi.advanceTimersByTime(250);
    socket = FakeSocket.last();
    socket.open();
    socket.replyError('connect', { code: 107, message: 'bad request', temporary: false });
    expect(client.state).toBe('disconnected');
  });
});

describe('heartbeat', () => {
  it('answers every server ping with a pong at once', () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    socket.receive({ push: 'ping' });
    expect(socket.messages.at(-1)).toBe('{"method":"pong"}');
    socket.receive({ push: 'ping' });
    expect(socket.frames.filter((f) => f.method === 'pong')).toHaveLength(2);
    expect(client.state).toBe('connected');
  });

  it('treats ping + pong ms of silence as a dead connection and reconnects', () => {
    const client = createClient();
    const log = record<ClientEvents>(client, ['reconnecting']);
    client.connect();
    const socket = acceptConnect({ ...CONNECT_RESULT, ping: 1000, pong: 500 });
    vi.advanceTimersByTime(1000);
    socket.receive({ push: 'ping' });
    vi.advanceTimersByTime(1499);
    expect(client.state).toBe('connected');
    vi.advanceTimersByTime(1);
    expect(client.state).toBe('connecting');
    expect(socket.closedByClient).toEqual({ code: 1000, reason: 'no ping from server' });
    expect(log).toEqual([['reconnecting', { code: 5, reason: 'no ping from server', delay: 250, attempt: 1 }]]);
  });

  it('stays connected while pings keep arriving', () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect({ ...CONNECT_RESULT, ping: 1000, pong: 500 });
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(1000);
      socket.receive({ push: 'ping' });
    }
    expect(client.state).toBe('connected');
  });
});

describe('messages', () => {
  it('handles several frames in one message, in order', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    const sub = client.subscribe('chat:room');
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    const subscribeId = socket.lastCommand('subscribe').id;
    socket.receiveRaw(
      [
        JSON.stringify({ id: subscribeId, result: { epoch: 'e1', offset: 0, recoverable: true } }),
        JSON.stringify({ push: 'pub', channel: 'chat:room', offset: 1, time: 1, data: 'a' }),
        JSON.stringify({ push: 'ping' }),
        JSON.stringify({ push: 'pub', channel: 'chat:room', offset: 2, time: 2, data: 'b' }),
      ].join('\n'),
    );
    expect(sub.state).toBe('subscribed');
    expect(got).toEqual(['a', 'b']);
    expect(socket.messages.at(-1)).toBe('{"method":"pong"}');
    await flush();
  });

  it('sends the frames produced while handling one message as one message', () => {
    const client = createClient();
    client.subscribe('chat:a');
    client.subscribe('chat:b');
    client.connect();
    const socket = acceptConnect();
    expect(socket.messages).toHaveLength(2);
    expect(socket.messages[1]!.split('\n').map((l) => JSON.parse(l).method)).toEqual(['subscribe', 'subscribe']);
  });

  it('drops the connection on a message that is not JSON', () => {
    const client = createClient();
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e.error.code));
    client.connect();
    const socket = acceptConnect();
    socket.receiveRaw('{nope');
    expect(client.state).toBe('connecting');
    expect(errors).toEqual([ClientCode.BadFrame.code]);
    expect(socket.closedByClient?.reason).toBe('bad frame from server');
  });
});

describe('tokens', () => {
  it('gets the first token from getToken when none is given', async () => {
    const getToken = vi.fn(async () => 'fresh');
    const client = createClient({ token: undefined, getToken });
    client.connect();
    expect(FakeSocket.all).toHaveLength(0);
    await flush();
    const socket = FakeSocket.last();
    socket.open();
    expect(socket.lastCommand('connect').params).toEqual({ token: 'fresh' });
    expect(getToken).toHaveBeenCalledTimes(1);
  });

  it('refreshes the token before expiry over the live connection', async () => {
    vi.setSystemTime(1_000_000);
    let n = 0;
    const getToken = vi.fn(async () => `t${++n}`);
    const client = createClient({ getToken });
    client.connect();
    const socket = acceptConnect({ ...CONNECT_RESULT, ping: 0, expires: 1_000_000 + 60_000 });
    expect(client.session?.expires).toBe(1_060_000);
    vi.advanceTimersByTime(53_999);
    await flush();
    expect(getToken).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    await flush();
    expect(getToken).toHaveBeenCalledTimes(1);
    expect(socket.lastCommand('refresh').params).toEqual({ token: 't1' });
    socket.reply('refresh', { expires: 1_054_000 + 60_000 });
    expect(client.session?.expires).toBe(1_114_000);
    vi.advanceTimersByTime(54_000);
    await flush();
    expect(socket.lastCommand('refresh').params).toEqual({ token: 't2' });
    expect(client.state).toBe('connected');
  });

  it('refreshes half-way through a short token lifetime', async () => {
    vi.setSystemTime(0);
    const getToken = vi.fn(async () => 'next');
    const client = createClient({ getToken });
    client.connect();
    const socket = acceptConnect({ ...CONNECT_RESULT, expires: 3000 });
    vi.advanceTimersByTime(1499);
    await flush();
    expect(socket.commands('refresh')).toHaveLength(0);
    vi.advanceTimersByTime(1);
    await flush();
    expect(socket.commands('refresh')).toHaveLength(1);
  });

  it('after a refused refresh keeps the connection until 3003, then reconnects with a new token', async () => {
    vi.setSystemTime(0);
    let n = 0;
    const getToken = vi.fn(async () => `t${++n}`);
    const client = createClient({ getToken });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(`${e.during}:${e.error.code}`));
    client.connect();
    const socket = acceptConnect({ ...CONNECT_RESULT, expires: 20_000 });
    vi.advanceTimersByTime(15_000);
    await flush();
    socket.replyError('refresh', { code: 103, message: 'permission denied', temporary: false });
    expect(errors).toEqual(['refresh:103']);
    expect(client.state).toBe('connected');
    socket.serverClose(3003, 'token expired');
    expect(client.state).toBe('connecting');
    vi.advanceTimersByTime(250);
    await flush();
    expect(getToken).toHaveBeenCalledTimes(2);
    FakeSocket.last().open();
    expect(FakeSocket.last().lastCommand('connect').params).toEqual({ token: 't2' });
  });

  it('goes disconnected on 3003 when there is no getToken', () => {
    const client = createClient();
    client.connect();
    acceptConnect();
    FakeSocket.last().serverClose(3003, 'token expired');
    expect(client.state).toBe('disconnected');
  });

  it('fetches a new token once after 3500 on a session that had connected, and stops if that fails too', async () => {
    let n = 0;
    const getToken = vi.fn(async () => `t${++n}`);
    const client = createClient({ getToken });
    client.connect();
    acceptConnect();
    FakeSocket.last().serverClose(3500, 'invalid token');
    expect(client.state).toBe('connecting');
    vi.advanceTimersByTime(250);
    await flush();
    expect(getToken).toHaveBeenCalledTimes(1);
    FakeSocket.last().open();
    expect(FakeSocket.last().lastCommand('connect').params).toEqual({ token: 't1' });
    FakeSocket.last().serverClose(3500, 'invalid token');
    expect(client.state).toBe('disconnected');
  });

  it('asks getToken again on a manual connect() after its token was refused', async () => {
    let n = 0;
    const client = createClient({ token: undefined, getToken: async () => `t${++n}` });
    client.connect();
    await flush();
    FakeSocket.last().open();
    FakeSocket.last().replyError('connect', { code: 101, message: 'unauthorized', temporary: false });
    expect(client.state).toBe('disconnected');
    client.connect();
    await flush();
    FakeSocket.last().open();
    expect(FakeSocket.last().lastCommand('connect').params).toEqual({ token: 't2' });
  });

  it('stops at once on 3500 when the session never connected', () => {
    const client = createClient({ getToken: async () => 'x' });
    client.connect();
    FakeSocket.last().open();
    FakeSocket.last().serverClose(3500, 'invalid token');
    expect(client.state).toBe('disconnected');
  });

  it('retries a failing getToken with backoff, and stops on a permanent SwitchboardError', async () => {
    const getToken = vi
      .fn<() => Promise<string>>()
      .mockRejectedValueOnce(new Error('network down'))
      .mockRejectedValueOnce(new SwitchboardError(401, 'logged out', false));
    const client = createClient({ token: undefined, getToken });
    const log = record<ClientEvents>(client, ['reconnecting', 'disconnected']);
    client.connect();
    await flush();
    expect(log).toEqual([['reconnecting', { code: 7, reason: 'could not get a token', delay: 250, attempt: 1 }]]);
    vi.advanceTimersByTime(250);
    await flush();
    expect(client.state).toBe('disconnected');
    expect(log.at(-1)).toEqual(['disconnected', { code: 8, reason: 'unauthorized' }]);
    expect(FakeSocket.all).toHaveLength(0);
  });
});

describe('status', () => {
  it('sends away now and again after a reconnect', async () => {
    const client = createClient();
    client.connect();
    let socket = acceptConnect();
    const sent = client.setStatus('away');
    expect(socket.lastCommand('status').params).toEqual({ status: 'away' });
    socket.serverClose(1006);
    await expect(sent).rejects.toMatchObject({ code: ClientCode.ConnectionClosed.code, temporary: true });
    vi.advanceTimersByTime(250);
    socket = acceptConnect();
    expect(socket.lastCommand('status').params).toEqual({ status: 'away' });
  });
});

describe('options', () => {
  it('refuses a URL that is not ws:// or wss://', () => {
    expect(() => new SwitchboardClient('http://x/ws', { WebSocket: FakeSocket })).toThrow(expect.objectContaining({ code: ClientCode.BadConfiguration.code }));
    expect(() => new SwitchboardClient('wss://x/ws', { WebSocket: FakeSocket })).not.toThrow();
  });

  it('needs a WebSocket implementation', () => {
    const original = (globalThis as { WebSocket?: unknown }).WebSocket;
    vi.stubGlobal('WebSocket', undefined);
    try {
      expect(() => createClient({ WebSocket: undefined })).toThrow(/no WebSocket implementation/);
    } finally {
      vi.unstubAllGlobals();
      expect((globalThis as { WebSocket?: unknown }).WebSocket).toBe(original);
    }
  });
});

describe('a page whose Origin the server refuses', () => {
  const probeAnswer = (body: unknown) => {
    const calls: string[] = [];
    const fetch = async (url: string) => {
      calls.push(url);
      return { ok: true, json: async () => body };
    };
    return { calls, fetch };
  };

  it('asks the server why the socket never opened, then stops with OriginRefused instead of retrying', async () => {
    const { calls, fetch } = probeAnswer({
      websocket: 'origin-refused',
      origin: 'https://evil.example',
      hint: 'add it to allowedOrigins (--allowed-origins / SWITCHBOARD_ALLOWED_ORIGINS)',
    });
    const client = createClient({ fetch });
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    const downs: unknown[] = [];
    client.on('disconnected', (e) => downs.push(e));
    client.connect();
    FakeSocket.last().serverClose(1006);
    await flush();
    expect(calls).toEqual(['http://test.local/ws']);
    expect(client.state).toBe('disconnected');
    expect(downs).toEqual([expect.objectContaining({ code: ClientCode.OriginRefused.code, reason: expect.stringContaining('https://evil.example') })]);
    expect(errors).toHaveLength(1);
    const sockets = FakeSocket.all.length;
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all.length).toBe(sockets);
  });

  it('keeps retrying with backoff when the server says the Origin is fine (the failure was something else)', async () => {
    const { calls, fetch } = probeAnswer({ websocket: 'ok' });
    const client = createClient({ fetch });
    client.connect();
    FakeSocket.last().serverClose(1006);
    await flush();
    expect(calls).toHaveLength(1);
    expect(client.state).toBe('connecting');
    vi.advanceTimersByTime(250);
    expect(FakeSocket.all.length).toBe(2);
  });

  it('does not ask when the socket had opened (a normal drop)', async () => {
    const { calls, fetch } = probeAnswer({ websocket: 'origin-refused' });
    const client = createClient({ fetch });
    client.connect();
    acceptConnect();
    FakeSocket.last().serverClose(1006);
    await flush();
    expect(calls).toEqual([]);
    expect(client.state).toBe('connecting');
  });
});
