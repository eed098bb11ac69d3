import { randomBytes } from 'node:crypto';
import {
  type SocketCloseEvent,
  type SocketEvent,
  type SocketMessageEvent,
  type Subscription,
  SwitchboardClient,
  type WebSocketConstructor,
  type WebSocketLike,
} from '@switchboard/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor, waitUntil } from '../packages/client/test/wait-for.js';
import { eventually } from './helpers/eventually.js';
import { ManualClock } from './helpers/manual-clock.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Conflation on an ordinary namespace (`conflation: { windowMs, key }`): a window's
 * publications reach a subscriber as one `pubs` frame with the latest per key; history keeps
 * every one; the SDK's position is the channel's newest offset; recovery gives the latest per
 * key of the missed range and nothing older. The window is closed by moving a manual clock
 * (the server's timer wheel and the SDK's timers), never by waiting.
 */

const WINDOW_MS = 1000;
const KEYS = 10;
const CAPS = { 'progress:*': ['subscribe', 'history'], 'project:*': ['subscribe', 'history'] };
const namespaces = { project: {}, progress: { historySize: 5000, conflation: { windowMs: WINDOW_MS, key: 'formId' } } };
const key = (channel: string) => `acme|${channel}`;

type Frame = Record<string, unknown> & { push?: string; channel?: string; id?: number; method?: string; params?: Record<string, unknown> };

/** Sockets for one SDK client that record every frame each way, connect to `target`, and can be cut (or refused) on demand. */
class Wire {
  readonly received: Frame[] = [];
  readonly sent: Frame[] = [];
  #socket: WebSocket | null = null;
  /** While true, new sockets go to a closed port: the SDK retries on its (manual) timers. */
  offline = false;

  constructor(public target: TestServer) {}

  get Socket(): WebSocketConstructor {
    const wire = this;
    return class RecordingSocket implements WebSocketLike {
      readonly #ws: WebSocket;
      constructor() {
        this.#ws = new WebSocket(wire.offline ? 'ws://127.0.0.1:9/ws' : wire.target.url);
        wire.#socket = this.#ws;
        this.#ws.on('error', () => {});
      }
      get readyState(): number {
        return this.#ws.readyState;
      }
      send(data: string): void {
        for (const line of data.split('\n')) wire.sent.push(JSON.parse(line) as Frame);
        this.#ws.send(data);
      }
      close(code?: number, reason?: string): void {
        this.#ws.close(code, reason);
      }
      addEventListener(type: 'open' | 'error', listener: (event: SocketEvent) => void): void;
      addEventListener(type: 'message', listener: (event: SocketMessageEvent) => void): void;
      addEventListener(type: 'close', listener: (event: SocketCloseEvent) => void): void;
      addEventListener(type: 'open' | 'error' | 'message' | 'close', listener: (event: never) => void): void {
        if (type !== 'message') {
          this.#ws.addEventListener(type, listener as () => void);
          return;
        }
        this.#ws.addEventListener('message', (event) => {
          const text = String(event.data);
          for (const line of text.split('\n')) wire.received.push(JSON.parse(line) as Frame);
          (listener as (e: SocketMessageEvent) => void)({ data: text });
        });
      }
    };
  }

  /** Pushes of one channel received so far. */
  pushes(channel: string): Frame[] {
    return this.received.filter((f) => f.push !== undefined && f.channel === channel);
  }

  /** `subscribe` commands sent for a channel. */
  subscribes(channel: string): Frame[] {
    return this.sent.filter((f) => f.method === 'subscribe' && f.params?.['channel'] === channel);
  }

  /** Cut the current connection without a close handshake (as a network drop would). */
  cut(): void {
    this.#socket?.terminate();
  }
}

interface Publication {
  offset: number;
  data: { formId?: string; pct: number };
}

/** Publish through the HTTP API's batch route, in order (with `tags(i)` when given); the offsets given. */
async function publishBatch(s: TestServer, channel: string, items: unknown[], tags?: (i: number) => Record<string, string>): Promise<number[]> {
  const res = await fetch(`${s.httpUrl}/api/v1/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' },
    body: JSON.stringify({ publications: items.map((data, i) => ({ channel, data, ...(tags ? { tags: tags(i) } : {}) })) }),
  });
  const body = (await res.json()) as { results: Array<{ offset: number }> };
  expect(res.status).toBe(200);
  return body.results.map((r) => r.offset);
}

async function newestOffset(s: TestServer, channel: string): Promise<number> {
  const res = await fetch(`${s.httpUrl}/api/v1/channels/${channel}/history?limit=0`, {
    headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'acme' },
  });
  return ((await res.json()) as { offset: number }).offset;
}

const progress = (from: number, count: number, keys = KEYS) => Array.from({ length: count }, (_, i) => ({ formId: `f${(from + i) % keys}`, pct: from + i }));

/**
 * The suite, for one node or for three over Redis: publications enter through `pubNode`, the
 * subscriber sits on `subNode` and reconnects to `resumeNode` (so recovery crosses nodes too).
 */
function conflationSuite(nodes: () => { pubNode: TestServer; subNode: TestServer; resumeNode: TestServer; clock: ManualClock }) {
  const cleanups: Array<() => void> = [];
  afterAll(() => {
    for (const fn of cleanups.splice(0)) fn();
  });

  function sdk(wire: Wire, clock: ManualClock): SwitchboardClient {
    const c = new SwitchboardClient(wire.target.url, {
      getToken: () => wire.target.token({ sub: `reader-${randomBytes(3).toString('hex')}`, caps: CAPS }),
      WebSocket: wire.Socket,
      transports: ['websocket'],
      timers: clock.timers,
      now: clock.now,
      random: () => 0,
      backoff: { minDelay: 10, maxDelay: 50 },
    });
    cleanups.push(() => c.disconnect());
    c.connect();
    return c;
  }

  /** Cut the connection; publish what `during` publishes while the client cannot reconnect; let it reconnect. */
  async function reconnectAfter(wire: Wire, c: SwitchboardClient, sub: Subscription, clock: ManualClock, channel: string, during: () => Promise<void>) {
    const at = wire.target;
    wire.offline = true;
    const lost = waitFor(sub, 'subscribing');
    wire.cut();
    await lost;
    await eventually(() => at.server.node.hub.subscribers(key(channel)) === 0, 5000, 'the server to drop the cut connection');
    await during();
    wire.offline = false;
    wire.target = nodes().resumeNode;
    const back = waitFor(sub, 'subscribed');
    // Run the SDK's reconnect timer (backoff ≤ 50 ms) whenever one is due; a refused attempt schedules the next.
    await eventually(
      () => {
        if (c.state === 'connected') return true;
        const due = clock.nextDue();
        if (due !== undefined && due - clock.now() <= 100) clock.advanceTo(due);
        return false;
      },
      10_000,
      'the client to reconnect',
    );
    return back;
  }

  it('delivers 1,000 publications over 10 keys inside one window as one frame with the 10 latest; history keeps all; the position is the newest offset', async () => {
    const { pubNode, subNode, clock } = nodes();
    const channel = `progress:forms-${randomBytes(3).toString('hex')}`;
    const wire = new Wire(subNode);
    const c = sdk(wire, clock);
    const sub = c.subscribe<Publication['data']>(channel);
    const seen: Publication[] = [];
    sub.on('publication', (e) => seen.push({ offset: e.offset as number, data: e.data }));
    const subscribed = await waitFor(sub, 'subscribed');
    expect(subscribed.offset).toBe(0);
    const subscribeReply = wire.received.find((f) => f.id === wire.subscribes(channel)[0]?.id);
    expect(subscribeReply?.['result']).toMatchObject({ conflated: true });

    const items = progress(0, 1000);
    const offsets = await publishBatch(pubNode, channel, items);
    expect(offsets).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    await eventually(() => subNode.server.node.hub.conflating(key(channel)) === 1000, 10_000, 'the open window to hold all 1,000');
    expect(seen).toEqual([]);
    clock.advance(WINDOW_MS);
    await waitUntil(sub, 'publication', () => seen.length >= KEYS);

    const frames = wire.pushes(channel);
    expect(frames.map((f) => f.push)).toEqual(['pubs']);
    expect(frames[0]).toMatchObject({ after: 0, offset: 1000, skipped: 990 });
    expect(seen.map((p) => p.data)).toEqual(items.slice(990));
    expect(seen.map((p) => p.offset)).toEqual(offsets.slice(990));
    expect(await newestOffset(pubNode, channel)).toBe(1000);
    const page = (await sub.history({ limit: 100, since: { offset: 900, epoch: subscribed.epoch } })) as { publications: Publication[] };
    expect(page.publications.map((p) => p.offset)).toEqual(Array.from({ length: 100 }, (_, i) => 901 + i));

    // The position the SDK recovers from after a forced disconnect is the channel's newest offset.
    await reconnectAfter(wire, c, sub, clock, channel, async () => {});
    expect(wire.subscribes(channel).at(-1)?.params?.['recover']).toEqual({ offset: 1000, epoch: subscribed.epoch });
    expect(seen).toHaveLength(KEYS);
  });

  it('recovers, after a forced disconnect, the latest per key of the missed range and nothing older; the position ends at the newest offset', async () => {
    const { pubNode, subNode, clock } = nodes();
    const channel = `progress:recover-${randomBytes(3).toString('hex')}`;
    const wire = new Wire(subNode);
    const c = sdk(wire, clock);
    const sub = c.subscribe<Publication['data']>(channel);
    const seen: Publication[] = [];
    sub.on('publication', (e) => seen.push({ offset: e.offset as number, data: e.data }));
    const { epoch } = await waitFor(sub, 'subscribed');
    const first = await publishBatch(pubNode, channel, progress(0, 200));
    await eventually(() => subNode.server.node.hub.conflating(key(channel)) === 200, 10_000, 'the window to hold 200');
    clock.advance(WINDOW_MS);
    await waitUntil(sub, 'publication', () => seen.length >= KEYS);
    expect(seen.map((p) => p.offset)).toEqual(first.slice(190));
    seen.length = 0;

    // Missed while offline: a key published once (first in the range), then 499 over the 10 keys.
    const missed = [{ formId: 'solo', pct: -1 }, ...progress(200, 499)];
    let missedOffsets: number[] = [];
    const back = await reconnectAfter(wire, c, sub, clock, channel, async () => {
      missedOffsets = await publishBatch(pubNode, channel, missed);
    });
    expect(wire.subscribes(channel).at(-1)?.params?.['recover']).toEqual({ offset: 200, epoch });
    expect(back).toMatchObject({ recovered: true, offset: 700 });
    expect(seen.map((p) => p.data)).toEqual([missed[0], ...missed.slice(-KEYS)]);
    expect(seen.map((p) => p.offset)).toEqual([missedOffsets[0], ...missedOffsets.slice(-KEYS)]);
    expect(wire.pushes(channel).filter((f) => f.push === 'pub')).toEqual([]);

    // Nothing was published since: the next recovery starts at the channel's newest offset and brings nothing.
    seen.length = 0;
    await reconnectAfter(wire, c, sub, clock, channel, async () => {});
    expect(wire.subscribes(channel).at(-1)?.params?.['recover']).toEqual({ offset: 700, epoch });
    expect(await newestOffset(pubNode, channel)).toBe(700);
    expect(seen).toEqual([]);
  });

  it('leaves an unconflated namespace on the same server unchanged: one pub push per publication, consecutive offsets', async () => {
    const { pubNode, subNode } = nodes();
    const channel = `project:plain-${randomBytes(3).toString('hex')}`;
    const wire = new Wire(subNode);
    const c = sdk(wire, nodes().clock);
    const sub = c.subscribe<Publication['data']>(channel);
    const seen: Publication[] = [];
    sub.on('publication', (e) => seen.push({ offset: e.offset as number, data: e.data }));
    await waitFor(sub, 'subscribed');
    expect(wire.received.find((f) => f.id === wire.subscribes(channel)[0]?.id)?.['result']).not.toHaveProperty('conflated');
    const items = progress(0, 50);
    await publishBatch(pubNode, channel, items);
    await waitUntil(sub, 'publication', () => seen.length >= 50);
    expect(seen.map((p) => p.data)).toEqual(items);
    expect(seen.map((p) => p.offset)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(wire.pushes(channel).map((f) => f.push)).toEqual(Array(50).fill('pub'));
    expect(subNode.server.node.hub.conflating(key(channel))).toBe(0);
  });
}

describe('conflation on one node (memory engine)', () => {
  const clock = new ManualClock();
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ now: clock.now, limits: { httpBatchSize: 1000 }, namespaces });
    clock.onMove(() => s.server.node.wheel.advance());
  });
  afterAll(async () => {
    await s?.close();
  });

  conflationSuite(() => ({ pubNode: s, subNode: s, resumeNode: s, clock }));

  /** An SDK subscriber of `channel` on `s`, with the publications it emits. */
  async function reader(channel: string, options: { filter?: unknown } = {}) {
    const wire = new Wire(s);
    const c = new SwitchboardClient(s.url, {
      getToken: () => s.token({ sub: `reader-${randomBytes(3).toString('hex')}`, caps: CAPS }),
      WebSocket: wire.Socket,
      transports: ['websocket'],
      timers: clock.timers,
      now: clock.now,
    });
    c.connect();
    const sub = c.subscribe<Publication['data']>(channel, options as never);
    const seen: Publication[] = [];
    sub.on('publication', (e) => seen.push({ offset: e.offset as number, data: e.data }));
    const subscribed = await waitFor(sub, 'subscribed');
    return { c, sub, seen, wire, subscribed };
  }

  it('gives a subscriber that joined while a window was open the same frame, from its own position on, nothing twice', async () => {
    const channel = `progress:join-${randomBytes(3).toString('hex')}`;
    const early = await reader(channel);
    await publishBatch(s, channel, progress(0, 30));
    const late = await reader(channel);
    expect(late.subscribed.offset).toBe(30);
    // Only f0–f4 change after the late subscriber's position: f5–f9's latest (26–30) it must not get again.
    await publishBatch(s, channel, progress(30, 5));
    expect(s.server.node.hub.conflating(key(channel))).toBe(35);
    clock.advance(WINDOW_MS);
    await waitUntil(early.sub, 'publication', () => early.seen.length >= KEYS);
    await waitUntil(late.sub, 'publication', () => late.seen.length >= 5);
    expect(early.seen.map((p) => p.offset)).toEqual([26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
    expect(late.seen.map((p) => p.offset)).toEqual([31, 32, 33, 34, 35]);
    const [frameEarly] = early.wire.pushes(channel);
    const [frameLate] = late.wire.pushes(channel);
    expect(frameLate).toEqual(frameEarly);
    expect(frameLate).toMatchObject({ push: 'pubs', after: 0, offset: 35, skipped: 25 });
    early.c.disconnect();
    late.c.disconnect();
  });

  it('never conflates publications without the key, and a filtered subscription gets the survivors that match, its position at the window end', async () => {
    const channel = `progress:filter-${randomBytes(3).toString('hex')}`;
    const all = await reader(channel);
    const warn = await reader(channel, { filter: { tags: { level: 'warn' } } });
    // 40 keyed publications over 4 keys (levels alternating), and 3 without a usable key.
    const items: unknown[] = [...progress(0, 40, 4), { pct: -1 }, { formId: null, pct: -2 }, { formId: { nested: true }, pct: -3 }];
    const level = (i: number) => ({ level: i % 2 === 0 ? 'warn' : 'info' });
    await publishBatch(s, channel, items, level);
    clock.advance(WINDOW_MS);
    await waitUntil(all.sub, 'publication', () => all.seen.length >= 7);
    // Survivors: f0–f3's latest (offsets 37–40) and the three unkeyed (41–43).
    expect(all.seen.map((p) => p.offset)).toEqual([37, 38, 39, 40, 41, 42, 43]);
    expect(all.seen.slice(4).map((p) => p.data.pct)).toEqual([-1, -2, -3]);
    await waitUntil(warn.sub, 'publication', () => warn.seen.length >= 3);
    // Of those, the ones published with level warn (even indexes: offsets 37, 39, 41, 43).
    expect(warn.seen.map((p) => p.offset)).toEqual([37, 39, 41, 43]);
    expect(warn.wire.pushes(channel)).toHaveLength(1);
    expect(warn.wire.pushes(channel)[0]).toMatchObject({ after: 0, offset: 43, skipped: 36 });
    all.c.disconnect();
    warn.c.disconnect();
  });

  it('counts conflated-away publications in the Prometheus metrics', async () => {
    const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
    // 990, 190, 25 and 36 of the windows above (recovery itself counts nothing: it reads history).
    // Per node, not per subscriber.
    const m = /switchboard_conflated_publications_total (\d+)/.exec(text);
    expect(Number(m?.[1])).toBe(990 + 190 + 25 + 36);
  });
});

describe('conflation on three nodes over Redis', () => {
  const clock = new ManualClock();
  const servers: TestServer[] = [];
  beforeAll(async () => {
    const redis = { redis: 'redis://127.0.0.1:6379', redisPrefix: `sbconfl-${randomBytes(4).toString('hex')}` };
    for (let i = 0; i < 3; i++) servers.push(await startTestServer({ ...redis, now: clock.now, limits: { httpBatchSize: 1000 }, namespaces }));
    clock.onMove(() => {
      for (const s of servers) s.server.node.wheel.advance();
    });
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  conflationSuite(() => ({ pubNode: servers[0] as TestServer, subNode: servers[1] as TestServer, resumeNode: servers[2] as TestServer, clock }));
});
