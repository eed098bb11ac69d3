import { SwitchboardClient } from '@switchboard/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { waitFor, waitUntil } from '../packages/client/test/wait-for.js';
import { startBlockingProxy } from './helpers/blocking-proxy.js';
import { eventually } from './helpers/eventually.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { FrameParser } from './hostile/wire.js';

/**
 * permessage-deflate over real sockets: what is negotiated, which messages go compressed
 * (RSV1, seen on the raw bytes beside ws's own reading of them), that the bytes ws inflates
 * are the server's, and that a publication to many compressed subscribers is deflated once.
 */

const RSV1 = 0b100;
const OPCODE_TEXT = 1;

interface Sub {
  ws: WebSocket;
  /** Messages as ws delivered them (inflated). */
  messages: string[];
  /** RSV1 of each data frame as it came off the wire. */
  compressed: boolean[];
  /** The server's Sec-WebSocket-Extensions answer. */
  answer: string | undefined;
}

/** A ws client (it offers permessage-deflate by default) that also watches the raw frames. */
async function open(url: string, options: { perMessageDeflate?: boolean } = {}): Promise<Sub> {
  const ws = new WebSocket(url, options);
  const sub: Sub = { ws, messages: [], compressed: [], answer: undefined };
  ws.once('upgrade', (res) => {
    sub.answer = res.headers['sec-websocket-extensions'];
  });
  ws.on('message', (data: Buffer) => sub.messages.push(data.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const parser = new FrameParser();
  const socket = (ws as unknown as { _socket: NodeJS.EventEmitter })._socket;
  socket.on('data', (chunk: Buffer) => {
    for (const f of parser.push(chunk)) if (f.opcode === OPCODE_TEXT) sub.compressed.push((f.rsv & RSV1) !== 0);
  });
  return sub;
}

function frames(sub: Sub): Array<Record<string, unknown>> {
  return sub.messages.flatMap((m) => m.split('\n')).map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function connectAndSubscribe(s: TestServer, sub: Sub, user: string, channel: string): Promise<void> {
  const token = await s.token({ sub: user });
  sub.ws.send(`${JSON.stringify({ id: 1, method: 'connect', params: { token } })}\n${JSON.stringify({ id: 2, method: 'subscribe', params: { channel } })}`);
  await eventually(() => frames(sub).some((f) => f['id'] === 2), 10_000, `${user} subscribed`);
  expect(frames(sub).find((f) => f['id'] === 2)?.['error']).toBeUndefined();
}

async function publish(s: TestServer, channel: string, data: unknown): Promise<void> {
  const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  expect(res.status).toBe(200);
}

async function metric(s: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no metric ${name}`);
  return Number(line.split(' ')[1]);
}

const pubs = (sub: Sub) => frames(sub).filter((f) => f['push'] === 'pub');
const big = (i: number) => ({ i, text: `publication ${i} `.repeat(60), list: Array.from({ length: 20 }, (_, k) => ({ k, v: `value-${k}` })) });

describe('compression on (the default)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ limits: { newConnectionsPerIpPerSecond: 1_000_000, connectionsPerUser: 2000 } });
  });
  afterAll(async () => {
    await s.close();
  });

  it('a ws client negotiates permessage-deflate with server context takeover, none for the client, and a 2^10-byte client window', async () => {
    const sub = await open(s.url);
    expect(sub.answer).toBe('permessage-deflate; client_no_context_takeover; client_max_window_bits=10');
    expect(sub.ws.extensions).toBe('permessage-deflate');
    sub.ws.close();
  });

  it('messages from the threshold up are compressed, smaller ones are not, on one connection, and ws reads both byte for byte', async () => {
    const sub = await open(s.url);
    await connectAndSubscribe(s, sub, 'alice', 'project:mixed');
    const before = sub.compressed.length;
    const small = { i: 0, note: 'tiny' };
    await publish(s, 'project:mixed', small);
    await eventually(() => pubs(sub).length === 1, 5000, 'the small publication');
    await publish(s, 'project:mixed', big(1));
    await eventually(() => pubs(sub).length === 2, 5000, 'the large publication');
    expect(sub.compressed.slice(before)).toEqual([false, true]);
    expect(pubs(sub).map((p) => p['data'])).toEqual([small, big(1)]);
    sub.ws.close();
  });

  it('a batch of publications in one turn arrives as compressed messages that inflate to every frame', async () => {
    const sub = await open(s.url);
    await connectAndSubscribe(s, sub, 'alice', 'project:batch');
    const before = sub.messages.length;
    const publications = Array.from({ length: 40 }, (_, i) => ({ channel: 'project:batch', data: i % 3 === 0 ? { i } : big(i) }));
    const res = await fetch(`${s.httpUrl}/api/v1/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ publications }),
    });
    expect(res.status).toBe(200);
    await eventually(() => pubs(sub).length === 40, 5000, '40 publications');
    expect(pubs(sub).map((p) => p['data'])).toEqual(publications.map((p) => p.data));
    const messages = sub.messages.slice(before);
    // Several frames shared one compressed message.
    expect(messages.some((m, i) => m.includes('\n') && sub.compressed[sub.compressed.length - messages.length + i])).toBe(true);
    sub.ws.close();
  });

  it('one publication to 1,000 compressed subscribers is deflated once', { timeout: 120_000 }, async () => {
    const subs: Sub[] = [];
    // Bounded: 50 sockets connecting at a time.
    for (let at = 0; at < 1000; at += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => open(s.url)));
      await Promise.all(batch.map((sub, k) => connectAndSubscribe(s, sub, `fan${(at + k) % 20}`, 'project:fan')));
      subs.push(...batch);
    }
    expect(subs.every((sub) => sub.ws.extensions.startsWith('permessage-deflate'))).toBe(true);
    const deflates = await metric(s, 'switchboard_compressions_total');
    const compressedMessages = await metric(s, 'switchboard_compressed_messages_total');
    const data = big(1000);
    await publish(s, 'project:fan', data);
    await eventually(() => subs.every((sub) => pubs(sub).length === 1), 30_000, 'every subscriber got the publication');
    expect(subs.every((sub) => sub.compressed.at(-1) === true)).toBe(true);
    expect(subs.every((sub) => JSON.stringify(pubs(sub)[0]?.['data']) === JSON.stringify(data))).toBe(true);
    expect(await metric(s, 'switchboard_compressions_total')).toBe(deflates + 1);
    expect(await metric(s, 'switchboard_compressed_messages_total')).toBe(compressedMessages + 1000);
    for (const sub of subs) sub.ws.terminate();
  });

  it('a client compresses what it sends (a 3 KB publish) and the server reads it', async () => {
    const sub = await open(s.url);
    await connectAndSubscribe(s, sub, 'carol', 'project:upload');
    const data = big(9);
    sub.ws.send(JSON.stringify({ id: 3, method: 'publish', params: { channel: 'project:upload', data } }), { compress: true });
    await eventually(() => pubs(sub).length === 1, 5000, 'the publication back');
    expect(frames(sub).find((f) => f['id'] === 3)?.['error']).toBeUndefined();
    expect(pubs(sub)[0]?.['data']).toEqual(data);
    sub.ws.close();
  });

  it('the Node SDK negotiates it, and recovers compressed publications missed while away, once each and in order', async () => {
    const proxy = await startBlockingProxy(s.port);
    proxy.allowUpgrades = true;
    const client = new SwitchboardClient(proxy.url, {
      getToken: () => s.token({ sub: 'sdk' }),
      WebSocket,
      transports: ['websocket'],
      backoff: { minDelay: 50, maxDelay: 200, shutdownJitter: 50 },
    });
    try {
      const room = client.subscribe<unknown>('project:sdk');
      const got: unknown[] = [];
      room.on('publication', (p) => got.push(p.data));
      client.connect();
      await waitFor(room, 'subscribed');
      const compressedBefore = s.server.node.stats.compressedMessages;
      await publish(s, 'project:sdk', { small: true });
      await publish(s, 'project:sdk', big(1));
      await waitUntil(room, 'publication', () => got.length === 2);
      expect(s.server.node.stats.compressedMessages).toBeGreaterThan(compressedBefore);
      // Away: upgrades refused until three publications went by.
      proxy.allowUpgrades = false;
      const lost = waitFor(client, 'connecting');
      proxy.cut();
      await lost;
      for (let i = 2; i <= 4; i++) await publish(s, 'project:sdk', big(i));
      const resubscribed = waitFor(room, 'subscribed');
      proxy.allowUpgrades = true;
      expect(await resubscribed).toMatchObject({ wasRecovering: true, recovered: true });
      await publish(s, 'project:sdk', big(5));
      await waitUntil(room, 'publication', () => got.length >= 6);
      expect(got).toEqual([{ small: true }, big(1), big(2), big(3), big(4), big(5)]);
    } finally {
      client.disconnect();
      await proxy.close();
    }
  });

  it('a client that does not offer the extension gets the same data uncompressed', async () => {
    const sub = await open(s.url, { perMessageDeflate: false });
    expect(sub.ws.extensions).toBe('');
    await connectAndSubscribe(s, sub, 'bob', 'project:plain');
    await publish(s, 'project:plain', big(2));
    await eventually(() => pubs(sub).length === 1, 5000, 'the publication');
    expect(sub.compressed.every((c) => !c)).toBe(true);
    expect(pubs(sub)[0]?.['data']).toEqual(big(2));
    sub.ws.close();
  });
});

describe('compression off', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ compression: 'off' });
  });
  afterAll(async () => {
    await s.close();
  });

  it('no extension is negotiated and large messages go uncompressed', async () => {
    const sub = await open(s.url);
    expect(sub.ws.extensions).toBe('');
    expect(sub.answer).toBeUndefined();
    await connectAndSubscribe(s, sub, 'alice', 'project:off');
    await publish(s, 'project:off', big(3));
    await eventually(() => pubs(sub).length === 1, 5000, 'the publication');
    expect(sub.compressed.every((c) => !c)).toBe(true);
    expect(await metric(s, 'switchboard_compressions_total')).toBe(0);
    sub.ws.close();
  });
});
