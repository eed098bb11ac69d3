import { randomBytes } from 'node:crypto';
import { type ClientOptions, SwitchboardClient } from '@switchboard/client';
import { applyDelta } from 'fossil-delta';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor, waitUntil } from '../packages/client/test/wait-for.js';
import { eventually } from './helpers/eventually.js';
import { type Frame, RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Delta delivery: random sequences of slowly changing JSON documents published to a delta
 * channel reach delta subscribers identical to the full values — on the wire (each delta
 * rebuilds the stored JSON text byte for byte) and through the SDK, across forced
 * disconnects, recovery, slow-consumer drops and a move to another node on Redis.
 */

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Doc = { title: string; n: number; items: Array<{ id: number; text: string; done: boolean }>; note?: string | null };

/** A document that changes a little each step (and now and then a lot, or to another type). */
class Docs {
  readonly #r: () => number;
  #doc: Doc;
  #id = 0;
  constructor(seed: number) {
    this.#r = seeded(seed);
    this.#doc = { title: 'Plan ✓', n: 0, items: Array.from({ length: 40 }, () => this.#item()) };
  }
  #item() {
    return { id: ++this.#id, text: `item ${this.#id} ${'lorem ipsum dolor '.repeat(1 + Math.floor(this.#r() * 4))}é€`, done: false };
  }
  next(): unknown {
    const r = this.#r();
    if (r < 0.03) return [1, 'two', { three: null }];
    if (r < 0.05) return 'a plain string';
    const d: Doc = structuredClone(this.#doc);
    d.n++;
    const at = Math.floor(this.#r() * d.items.length);
    if (r < 0.4) (d.items[at] as Doc['items'][0]).done = !(d.items[at] as Doc['items'][0]).done;
    else if (r < 0.6) d.items.splice(at, 1, this.#item());
    else if (r < 0.7) d.items.splice(at, 1);
    else if (r < 0.8) d.items.push(this.#item());
    else if (r < 0.85) d.note = this.#r() < 0.5 ? null : '😀 "quoted" \\ \n';
    else (d.items[at] as Doc['items'][0]).text += ' edited';
    this.#doc = d;
    return d;
  }
}

const LIMITS = {
  newConnectionsPerIpPerSecond: 100_000,
  publishPerSecondPerConnection: 100_000,
  eventsPerMinutePerUser: 100_000_000,
  commandsPerSecond: 100_000,
  maxRecovery: 10_000,
};
const NAMESPACES = { doc: { delta: true, historySize: 5000 }, project: { historySize: 100 } };

async function publish(s: TestServer, channel: string, data: unknown): Promise<number> {
  const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { offset: number }).offset;
}

const CAPS = { 'doc:*': ['subscribe', 'publish', 'history'], 'project:*': ['subscribe', 'publish', 'history'] };

/** A ws WebSocket the test can reach: it pauses its socket, and `target()` picks the node. */
function trackedSockets(target: () => string) {
  const sockets: WebSocket[] = [];
  /** Delta pushes received, over every connection: proof the SDK had deltas to rebuild. */
  const deltas = { count: 0 };
  class Tracked extends WebSocket {
    constructor(_url: string | URL, protocols?: string | string[]) {
      super(target(), protocols);
      sockets.push(this);
      this.on('message', (data: Buffer) => {
        deltas.count += data.toString().split('"delta":true,"data"').length - 1;
      });
    }
  }
  return { sockets, deltas, WebSocket: Tracked as unknown as ClientOptions['WebSocket'] };
}

const clients: SwitchboardClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

function sdk(s: () => TestServer, user: string, options: ClientOptions): SwitchboardClient {
  const c = new SwitchboardClient(s().url, { getToken: () => s().token({ sub: user, caps: CAPS }), backoff: { minDelay: 10, maxDelay: 50 }, ...options });
  clients.push(c);
  return c;
}

/** Subscribe an SDK client with delta; everything it receives, in order. */
async function deltaSubscriber(c: SwitchboardClient, channel: string): Promise<{ got: unknown[]; resyncs: () => number }> {
  const sub = c.subscribe(channel, { delta: 'fossil' });
  const got: unknown[] = [];
  sub.on('publication', (p) => got.push(p.data));
  // A delta the SDK could not apply would make it resubscribe with 3009: there must be none.
  let resyncs = 0;
  sub.on('subscribing', (e) => {
    if (e.code === 3009) resyncs++;
  });
  c.connect();
  await waitFor(sub, 'subscribed');
  return { got, resyncs: () => resyncs };
}

describe('delta delivery on one node', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ limits: { ...LIMITS, queueMaxBytes: 65_536 }, namespaces: NAMESPACES });
  });
  afterAll(async () => {
    await s.close();
  });

  it('on the wire: full JSON text first, then deltas that rebuild every stored text byte for byte; others get plain data', async () => {
    const docs = new Docs(1);
    const delta = await RawClient.connect(s.url, await s.token({ sub: 'd', caps: CAPS }));
    const plain = await RawClient.connect(s.url, await s.token({ sub: 'p', caps: CAPS }));
    const reply = await delta.call('subscribe', { channel: 'doc:wire', delta: 'fossil' });
    expect(reply.result).toMatchObject({ delta: true });
    expect((await plain.call('subscribe', { channel: 'doc:wire' })).result?.['delta']).toBeUndefined();
    const off = await RawClient.connect(s.url, await s.token({ sub: 'o', caps: CAPS }));
    // A namespace without delta: the request is declined, the reply does not say delta, data is plain.
    expect((await off.call('subscribe', { channel: 'project:nodelta', delta: 'fossil' })).result?.['delta']).toBeUndefined();
    const values = Array.from({ length: 120 }, () => docs.next());
    for (const v of values) await publish(s, 'doc:wire', v);
    await delta.until(() => delta.pushes('pub').length === values.length, 5000, 'all pushes');
    await plain.until(() => plain.pushes('pub').length === values.length, 5000, 'all plain pushes');
    let prev: Uint8Array | null = null;
    let deltas = 0;
    let deltaBytes = 0;
    let fullBytes = 0;
    for (const [i, f] of delta.pushes('pub').entries()) {
      const text = JSON.stringify(values[i]);
      expect(typeof f['data']).toBe('string');
      const bytes: Uint8Array =
        f['delta'] === true
          ? Uint8Array.from(applyDelta(prev as Uint8Array, Uint8Array.from(Buffer.from(f['data'] as string, 'latin1'))))
          : Buffer.from(f['data'] as string);
      if (f['delta'] === true) deltas++;
      expect(Buffer.from(bytes).toString(), `publication ${i + 1}`).toBe(text);
      prev = bytes;
      deltaBytes += JSON.stringify(f['data']).length;
      fullBytes += text.length;
    }
    expect(delta.pushes('pub')[0]?.['delta']).toBeUndefined();
    expect(deltas).toBeGreaterThan(values.length / 2);
    expect(deltaBytes).toBeLessThan(fullBytes);
    expect(plain.pushes('pub').map((f: Frame) => f['data'])).toEqual(values);
    for (const c of [delta, plain, off]) c.close();
  });

  it('through the SDK: values identical to the published ones across forced disconnects and recovery', async () => {
    const docs = new Docs(2);
    const { deltas, WebSocket: Tracked } = trackedSockets(() => s.url);
    const c = sdk(() => s, 'reader', { WebSocket: Tracked });
    const { got, resyncs } = await deltaSubscriber(c, 'doc:sdk');
    const values: unknown[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 30; i++) {
        const v = docs.next();
        values.push(v);
        await publish(s, 'doc:sdk', v);
      }
      await waitUntil(c.getSubscription('doc:sdk') as never, 'publication', () => got.length >= values.length, 5000);
      // Dropped by the server; publications go on while the client is away.
      const lost = waitFor(c, 'connecting');
      await fetch(`${s.httpUrl}/api/v1/users/reader/disconnect`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' },
        body: JSON.stringify({ code: 4000, reason: 'drop' }),
      });
      await lost;
      for (let i = 0; i < 10; i++) {
        const v = docs.next();
        values.push(v);
        await publish(s, 'doc:sdk', v);
      }
    }
    await eventually(() => got.length >= values.length, 5000, 'every value');
    expect(got.map((v) => JSON.stringify(v))).toEqual(values.map((v) => JSON.stringify(v)));
    expect(resyncs()).toBe(0);
    expect(deltas.count).toBeGreaterThan(values.length / 2);
  });

  it('through the SDK: values identical across a slow-consumer drop (3006) and the recovery after it', async () => {
    const docs = new Docs(3);
    const { sockets, deltas, WebSocket: Tracked } = trackedSockets(() => s.url);
    const c = sdk(() => s, 'sloth', { WebSocket: Tracked });
    const { got, resyncs } = await deltaSubscriber(c, 'doc:slow');
    const values: unknown[] = [];
    const push = async (v: unknown) => {
      values.push(v);
      await publish(s, 'doc:slow', v);
    };
    for (let i = 0; i < 20; i++) await push(docs.next());
    await eventually(() => got.length === values.length, 5000, 'before the stall');
    const socket = sockets.at(-1) as unknown as { _socket: { pause(): void; resume(): void } };
    socket._socket.pause();
    const slow = () => s.server.node.stats.disconnects.get(3006) ?? 0;
    const before = slow();
    // Large values that differ a lot (deltas no smaller than the text) fill the queue; bounded.
    for (let i = 0; i < 2000 && slow() === before; i++) await push({ blob: randomBytes(6000).toString('base64'), i });
    expect(slow()).toBe(before + 1);
    socket._socket.resume();
    for (let i = 0; i < 20; i++) await push(docs.next());
    await eventually(() => got.length >= values.length, 20_000, 'every value after the drop');
    expect(got.map((v) => JSON.stringify(v))).toEqual(values.map((v) => JSON.stringify(v)));
    expect(resyncs()).toBe(0);
    expect(deltas.count).toBeGreaterThanOrEqual(19);
  });
});

describe('delta delivery on two nodes over Redis', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    const config = {
      redis: 'redis://127.0.0.1:6379',
      redisPrefix: `sbdelta-${randomBytes(4).toString('hex')}`,
      auth: { secret: `delta-test-secret-${randomBytes(16).toString('hex')}` },
      limits: LIMITS,
      namespaces: NAMESPACES,
    };
    a = await startTestServer(config);
    b = await startTestServer(config);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('through the SDK: values identical while the subscriber moves between nodes, publishing on either', async () => {
    const docs = new Docs(4);
    let on = a;
    const { deltas, WebSocket: Tracked } = trackedSockets(() => on.url);
    const c = sdk(() => on, 'mover', { WebSocket: Tracked });
    const { got, resyncs } = await deltaSubscriber(c, 'doc:moving');
    const values: unknown[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 25; i++) {
        const v = docs.next();
        values.push(v);
        await publish(i % 2 === 0 ? a : b, 'doc:moving', v);
      }
      await eventually(() => got.length >= values.length, 5000, `round ${round}`);
      // The next connection goes to the other node; the old one is dropped.
      const from = on;
      on = on === a ? b : a;
      const lost = waitFor(c, 'connecting');
      await fetch(`${from.httpUrl}/api/v1/users/mover/disconnect`, {
        method: 'POST',
        headers: { authorization: `Bearer ${from.apiKey}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' },
        body: JSON.stringify({ code: 4000, reason: 'move' }),
      });
      await lost;
      for (let i = 0; i < 5; i++) {
        const v = docs.next();
        values.push(v);
        await publish(a, 'doc:moving', v);
      }
    }
    await eventually(() => got.length >= values.length, 5000, 'every value');
    expect(got.map((v) => JSON.stringify(v))).toEqual(values.map((v) => JSON.stringify(v)));
    expect(resyncs()).toBe(0);
    expect(deltas.count).toBeGreaterThan(values.length / 2);
  });
});
