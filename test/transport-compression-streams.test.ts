import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { eventually } from './helpers/eventually.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Shared compression streams over real sockets: ws clients keep their inflate window between
 * messages (context takeover, as browsers do), and subscribers that skip publications (a tag
 * filter), receive another channel's publications in between, join late, or leave and come
 * back, all read every publication meant for them byte for byte — never a corrupt inflate
 * (ws would close 1007). The same publications cost far fewer bytes per delivery than with
 * every message compressed alone (`compressionStreams: 0`).
 */

interface Sub {
  ws: WebSocket;
  /** `n` and the JSON text of every publication's data received, by channel. */
  got: Map<string, Array<{ n: number; text: string }>>;
  replies: Map<number, Record<string, unknown>>;
  /** Bytes read off the socket (frames as sent). */
  wire: number;
  closed: number | null;
}

const LIVE = 'project:live';
const OTHER = 'project:other';

/** A dashboard document that changes a little from one publication to the next. */
function documentOf(n: number): Record<string, unknown> {
  return {
    n,
    kind: 'dashboard',
    rows: Array.from({ length: 16 }, (_, i) => ({
      id: `row-${i}`,
      name: `Service ${String.fromCharCode(65 + i)} ${['eu-west', 'us-east', 'ap-south'][i % 3]}`,
      latencyMs: Math.round(((n * 31 + i * 17) % 997) / 7),
      requests: 10_000 + ((n * 7919 + i * 104_729) % 50_000),
    })),
  };
}

async function open(s: TestServer, user: string, options: { serverNoContextTakeover?: boolean } = {}): Promise<Sub> {
  const ws = new WebSocket(s.url, options.serverNoContextTakeover ? { perMessageDeflate: { serverNoContextTakeover: true } } : {});
  const sub: Sub = { ws, got: new Map(), replies: new Map(), wire: 0, closed: null };
  ws.on('message', (data: Buffer) => {
    for (const line of data.toString('utf8').split('\n')) {
      const frame = JSON.parse(line) as Record<string, unknown>;
      if (frame['push'] === 'pub') {
        const channel = frame['channel'] as string;
        const data = frame['data'] as { n: number };
        const list = sub.got.get(channel) ?? [];
        list.push({ n: data.n, text: JSON.stringify(data) });
        sub.got.set(channel, list);
      } else if (typeof frame['id'] === 'number') sub.replies.set(frame['id'], frame);
    }
  });
  ws.on('close', (code) => {
    sub.closed = code;
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  (ws as unknown as { _socket: NodeJS.EventEmitter })._socket.on('data', (chunk: Buffer) => {
    sub.wire += chunk.length;
  });
  await command(sub, 1, 'connect', { token: await s.token({ sub: user }) });
  return sub;
}

let nextId = 10;
async function command(sub: Sub, id: number, method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
  sub.ws.send(JSON.stringify({ id, method, params }));
  await eventually(() => sub.replies.has(id), 10_000, `${method} answered`);
  const reply = sub.replies.get(id) as Record<string, unknown>;
  expect(reply['error']).toBeUndefined();
  return reply;
}

const subscribe = (sub: Sub, channel: string, extra: Record<string, unknown> = {}) => command(sub, nextId++, 'subscribe', { channel, ...extra });

async function post(s: TestServer, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${s.httpUrl}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
}

/** Publications 0..count-1 on LIVE (tagged `half: even|odd`), in singles and batches, with OTHER's in between. */
async function publishAll(s: TestServer, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; ) {
    const size = n % 5 === 0 ? 4 : 1;
    const items = Array.from({ length: Math.min(size, from + count - n) }, (_, k) => n + k);
    if (items.length === 1) await post(s, '/publish', { channel: LIVE, data: documentOf(n), tags: { half: n % 2 === 0 ? 'even' : 'odd' } });
    else await post(s, '/batch', { publications: items.map((k) => ({ channel: LIVE, data: documentOf(k), tags: { half: k % 2 === 0 ? 'even' : 'odd' } })) });
    if (n % 3 === 0) await post(s, '/publish', { channel: OTHER, data: documentOf(100_000 + n) });
    n += items.length;
  }
}

const received = (sub: Sub, channel: string) => sub.got.get(channel) ?? [];
const intact = (sub: Sub, channel: string) => received(sub, channel).every((p) => p.text === JSON.stringify(documentOf(p.n)));

describe('shared compression streams over real sockets', () => {
  let s: TestServer;
  let alone: TestServer;
  beforeAll(async () => {
    const limits = { newConnectionsPerIpPerSecond: 1_000_000, connectionsPerUser: 1000, publishPerSecondPerConnection: 100_000 };
    s = await startTestServer({ limits });
    alone = await startTestServer({ limits, compressionStreams: 0 });
  });
  afterAll(async () => {
    await s.close();
    await alone.close();
  });

  it('filtered, two-channel, late and returning subscribers all read every publication meant for them, byte for byte', { timeout: 120_000 }, async () => {
    const plain = await Promise.all(Array.from({ length: 12 }, (_, i) => open(s, `plain${i}`)));
    const both = await Promise.all(Array.from({ length: 4 }, (_, i) => open(s, `both${i}`)));
    const filtered = await Promise.all(Array.from({ length: 4 }, (_, i) => open(s, `even${i}`)));
    for (const sub of [...plain, ...both]) await subscribe(sub, LIVE);
    for (const sub of both) await subscribe(sub, OTHER);
    for (const sub of filtered) await subscribe(sub, LIVE, { filter: { tags: { half: 'even' } } });
    const stats = s.server.node.stats;
    const shared = stats.sharedCompressedMessages;
    const compressed = stats.compressedMessages;

    await publishAll(s, 0, 60);
    const late = await Promise.all(Array.from({ length: 3 }, (_, i) => open(s, `late${i}`)));
    for (const sub of late) await subscribe(sub, LIVE);
    const returning = plain.slice(0, 2);
    for (const sub of returning) await command(sub, nextId++, 'unsubscribe', { channel: LIVE });
    await publishAll(s, 60, 30);
    for (const sub of returning) await subscribe(sub, LIVE);
    await publishAll(s, 90, 60);

    const everyone = [...plain, ...both, ...filtered, ...late];
    const evens = (from: number) => Array.from({ length: 150 - from }, (_, k) => from + k).filter((n) => n % 2 === 0);
    await eventually(
      () =>
        [...plain.slice(2), ...both].every((sub) => received(sub, LIVE).length === 150) &&
        filtered.every((sub) => received(sub, LIVE).length === evens(0).length) &&
        late.every((sub) => received(sub, LIVE).at(-1)?.n === 149) &&
        returning.every((sub) => received(sub, LIVE).at(-1)?.n === 149) &&
        both.every((sub) => received(sub, OTHER).length === 20),
      30_000,
      'every publication delivered',
    );
    for (const sub of everyone) {
      expect(sub.closed).toBeNull();
      expect(intact(sub, LIVE)).toBe(true);
      expect(intact(sub, OTHER)).toBe(true);
    }
    const ns = (sub: Sub) => received(sub, LIVE).map((p) => p.n);
    const all = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);
    for (const sub of [...plain.slice(2), ...both]) expect(ns(sub)).toEqual(all(0, 150));
    for (const sub of filtered) expect(ns(sub)).toEqual(evens(0));
    for (const sub of late) expect(ns(sub)).toEqual(all(60, 150));
    for (const sub of returning) expect(ns(sub)).toEqual([...all(0, 60), ...all(90, 150)]);
    // The 10 plain subscribers that stayed were in step all along: each took its 60 runs (30
    // batches, 30 singles) from the stream. The others (filtered, two channels, late, back)
    // got runs compressed alone: this run is shorter than the one second between restarts.
    expect(stats.sharedCompressedMessages - shared).toBeGreaterThanOrEqual(10 * 60);
    expect(stats.compressedMessages - compressed).toBeGreaterThan(stats.sharedCompressedMessages - shared);
    for (const sub of everyone) sub.ws.terminate();
  });

  it('a steady subscriber reads far fewer bytes per publication than with every message compressed alone', { timeout: 60_000 }, async () => {
    const wire: number[] = [];
    for (const server of [s, alone]) {
      const subs = await Promise.all(Array.from({ length: 4 }, (_, i) => open(server, `bytes${i}`)));
      for (const sub of subs) await subscribe(sub, 'project:bytes');
      const before = subs.map((sub) => sub.wire);
      for (let n = 0; n < 100; n++) await post(server, '/publish', { channel: 'project:bytes', data: documentOf(n) });
      await eventually(() => subs.every((sub) => received(sub, 'project:bytes').length === 100), 20_000, 'every publication delivered');
      for (const sub of subs) expect(intact(sub, 'project:bytes')).toBe(true);
      wire.push(Math.min(...subs.map((sub, i) => sub.wire - (before[i] as number))));
      for (const sub of subs) sub.ws.terminate();
    }
    const [streamed, compressedAlone] = wire as [number, number];
    expect(streamed).toBeLessThan(compressedAlone * 0.6);
  });

  it('a client that asks for server_no_context_takeover gets every message compressed alone, beside clients on the shared stream', {
    timeout: 60_000,
  }, async () => {
    const alone = await open(s, 'nocontext', { serverNoContextTakeover: true });
    expect(alone.ws.extensions).toBe('permessage-deflate');
    const streamed = await Promise.all(Array.from({ length: 3 }, (_, i) => open(s, `ctx${i}`)));
    for (const sub of [alone, ...streamed]) await subscribe(sub, 'project:mixed-peers');
    const stats = s.server.node.stats;
    const shared = stats.sharedCompressedMessages;
    for (let n = 0; n < 40; n++) await post(s, '/publish', { channel: 'project:mixed-peers', data: documentOf(n) });
    await eventually(() => [alone, ...streamed].every((sub) => received(sub, 'project:mixed-peers').length === 40), 20_000, 'every publication delivered');
    // ws resets its inflater after every message for this client: a stream message would not inflate (1007).
    for (const sub of [alone, ...streamed]) {
      expect(sub.closed).toBeNull();
      expect(intact(sub, 'project:mixed-peers')).toBe(true);
      expect(received(sub, 'project:mixed-peers').map((p) => p.n)).toEqual(Array.from({ length: 40 }, (_, n) => n));
    }
    expect(stats.sharedCompressedMessages - shared).toBeGreaterThanOrEqual(3 * 40 - 3);
    expect(streamed[0]?.wire ?? 0).toBeLessThan(alone.wire * 0.6);
    for (const sub of [alone, ...streamed]) sub.ws.terminate();
  });
});
