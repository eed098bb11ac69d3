import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { seeded } from '../helpers/seeded.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Publication priorities across two nodes on one Redis: the publisher on node A, a held-back
 * subscriber (its socket paused on loopback) on node B. Node B gets each publication's
 * priority from Redis with it, so its congested connection orders the frames as one node
 * does: critical before any low queued after it, each channel in offset order; and a
 * subscriber cut off meanwhile recovers every publication exactly once.
 */

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const ALL = ['critical', 'high', 'normal', 'low'] as const;
type P = (typeof ALL)[number];
const CAPS = { 'feed:*': ['subscribe', 'publish', 'history'], 'project:*': ['subscribe', 'publish', 'signal'] };
const CHANNELS = Array.from({ length: 10 }, (_, i) => `feed:c${i}`);

describe('publication priorities across two nodes on Redis', () => {
  const prefix = `sbprio-${randomBytes(4).toString('hex')}`;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    const config = {
      redis: REDIS_URL,
      redisPrefix: prefix,
      namespaces: {
        project: {},
        feed: { historySize: 10_000, priorities: { default: 'normal', allowed: [...ALL] } },
        progress: { historySize: 100, conflation: { windowMs: 60_000, key: 'formId' }, priorities: { default: 'normal', allowed: [...ALL] } },
      },
      limits: {
        queueSignalDropBytes: 16_384,
        publishPerSecondPerConnection: 100_000,
        eventsPerMinutePerUser: 10_000_000,
        commandsPerSecond: 100_000,
        signalsPerSecond: 100_000,
      },
    };
    a = await startTestServer(config as never);
    b = await startTestServer(config as never);
  }, 30_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  /** A subscriber on B of the 10 channels and `project:r`, paused, until B holds frames for it; the publisher on A. */
  async function congested(sub: string): Promise<{ slow: RawClient; pub: RawClient; socket: { pause(): void; resume(): void } }> {
    const slow = await RawClient.connect(b.url, await b.token({ sub, caps: CAPS }));
    for (const ch of [...CHANNELS, 'project:r']) expect((await slow.call('subscribe', { channel: ch })).error).toBeUndefined();
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const pub = await RawClient.connect(a.url, await a.token({ sub: `${sub}-pub`, caps: CAPS }));
    expect((await pub.call('subscribe', { channel: 'project:r' })).error).toBeUndefined();
    // A watcher on B, not held back: once it has a signal, B has handled it for the paused socket too (queued or dropped).
    const watch = await RawClient.connect(b.url, await b.token({ sub: `${sub}-watch`, caps: CAPS }));
    expect((await watch.call('subscribe', { channel: 'project:r' })).error).toBeUndefined();
    const drops = () => b.server.node.stats.drops.get('signal_backpressure') ?? 0;
    const before = drops();
    for (let i = 0; i < 3000 && drops() === before; i++) {
      // Fresh random bytes each time: a repeated payload compresses to almost nothing against the previous one.
      const big = randomBytes(6000).toString('base64');
      expect((await pub.call('publish', { channel: 'project:r', data: { i, big } })).error).toBeUndefined();
      expect((await pub.call('signal', { channel: 'project:r', key: `k${i}`, data: i })).error).toBeUndefined();
      await watch.waitFor((f) => f.push === 'signal' && f['key'] === `k${i}`, 10_000);
    }
    expect(drops()).toBeGreaterThan(before);
    watch.close();
    return { slow, pub, socket };
  }

  async function publishMixed(pub: RawClient, n: number, seed: number): Promise<Array<{ channel: string; seq: number; priority: P; offset: number }>> {
    const rand = seeded(seed);
    const out: Array<{ channel: string; seq: number; priority: P; offset: number }> = [];
    for (let seq = 0; seq < n; seq++) {
      const channel = CHANNELS[Math.floor(rand() * CHANNELS.length)] as string;
      const priority = ALL[Math.floor(rand() * ALL.length)] as P;
      const reply = await pub.call('publish', { channel, data: { seq, priority }, priority });
      expect(reply.error).toBeUndefined();
      out.push({ channel, seq, priority, offset: (reply.result as { offset: number }).offset });
    }
    return out;
  }

  const received = (c: RawClient) =>
    c.frames
      .filter((f) => f.push === 'pub' && CHANNELS.includes(f['channel'] as string))
      .map((f) => ({ channel: f['channel'] as string, offset: f['offset'] as number, ...(f['data'] as { seq: number; priority: P }) }));

  /** B has received every publication of `sent` from Redis (it has delivered them to its hub). */
  async function arrivedOnB(name: string, sent: Array<{ channel: string; offset: number }>): Promise<void> {
    // A watcher on B, not held back, gets a low sentinel published after them on each channel once B has them all.
    const watch = await RawClient.connect(b.url, await b.token({ sub: `${name}-sentinels`, caps: CAPS }));
    for (const ch of CHANNELS) expect((await watch.call('subscribe', { channel: ch })).error).toBeUndefined();
    const pub = await RawClient.connect(a.url, await a.token({ sub: 'sentinel', caps: CAPS }));
    for (const ch of CHANNELS) expect((await pub.call('publish', { channel: ch, data: { sentinel: true }, priority: 'low' })).error).toBeUndefined();
    await watch.until(() => watch.pushes('pub').length === CHANNELS.length, 20_000, 'the sentinels');
    watch.close();
    pub.close();
    expect(sent.length).toBeGreaterThan(0);
  }

  it('once a held-back subscriber on B drains: critical before any low queued after it, each channel in offset order', async () => {
    const { slow, pub, socket } = await congested('slow');
    const sent = await publishMixed(pub, 400, 19);
    await arrivedOnB('slow', sent);
    expect(b.server.node.stats.disconnects.get(3006) ?? 0).toBe(0);
    socket.resume();
    await slow.until(() => received(slow).length === sent.length + CHANNELS.length, 20_000, 'every publication');
    const got = received(slow).filter((g) => g.seq !== undefined);
    expect(got).toHaveLength(sent.length);
    const at = new Map(got.map((g, i) => [g.seq, i]));
    let checked = 0;
    for (const c of sent.filter((p) => p.priority === 'critical')) {
      for (const l of sent.filter((p) => p.priority === 'low' && p.seq > c.seq)) {
        expect(at.get(c.seq) as number).toBeLessThan(at.get(l.seq) as number);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
    // the order is not the publish order: B reordered the channels by the priorities Redis carried
    expect(got.map((g) => g.seq)).not.toEqual(sent.map((p) => p.seq));
    for (const ch of CHANNELS) {
      const offsets = got.filter((g) => g.channel === ch).map((g) => g.offset);
      expect(offsets).toEqual(
        sent
          .filter((p) => p.channel === ch)
          .map((p) => p.offset)
          .sort((x, y) => x - y),
      );
    }
    expect(slow.closeCode).toBeNull();
    slow.close();
    pub.close();
  });

  it('a subscriber on B cut off while frames are held recovers every publication exactly once', async () => {
    const { slow, pub, socket } = await congested('cut');
    const epochs = new Map<string, string>();
    const starts = new Map<string, number>();
    for (const ch of CHANNELS) {
      const h = (await pub.call('history', { channel: ch, limit: 0 })).result as { epoch: string; offset: number };
      epochs.set(ch, h.epoch);
      starts.set(ch, h.offset);
    }
    const sent = await publishMixed(pub, 200, 23);
    await arrivedOnB('cut', sent);
    let before: ReturnType<typeof received> | null = null;
    slow.ws.on('message', () => {
      if (before !== null || received(slow).length === 0) return;
      before = received(slow);
      slow.ws.terminate();
    });
    socket.resume();
    await slow.until(() => before !== null, 20_000, 'the first frame');
    const got = (before as unknown as ReturnType<typeof received>).filter((g) => g.seq !== undefined);
    expect(got.length).toBeLessThan(sent.length);
    const again = await RawClient.connect(a.url, await a.token({ sub: 'cut2', caps: CAPS }));
    const all = got.map((g) => g.seq);
    let recovered = 0;
    for (const ch of CHANNELS) {
      const mine = got.filter((g) => g.channel === ch);
      const offset = mine.length > 0 ? (mine.at(-1)?.offset as number) : (starts.get(ch) as number);
      const reply = await again.call('subscribe', { channel: ch, recover: { offset, epoch: epochs.get(ch) } });
      expect(reply.error).toBeUndefined();
      const r = reply.result as { recovered: boolean; publications?: Array<{ data: { seq?: number } }> };
      expect(r.recovered).toBe(true);
      for (const p of r.publications ?? []) {
        if (p.data.seq === undefined) continue; // the sentinels
        all.push(p.data.seq);
        recovered++;
      }
    }
    expect(recovered).toBe(sent.length - got.length);
    expect(all.sort((x, y) => x - y)).toEqual(sent.map((p) => p.seq));
    again.close();
    pub.close();
  });

  it('a critical publication on A closes the conflation window of a subscriber on B at once', async () => {
    const caps = { 'progress:*': ['subscribe', 'publish'] };
    const sub = await RawClient.connect(b.url, await b.token({ sub: 'bars', caps }));
    expect((await sub.call('subscribe', { channel: 'progress:p' })).error).toBeUndefined();
    const pub = await RawClient.connect(a.url, await a.token({ sub: 'bars-pub', caps }));
    for (const pct of [10, 20, 30]) expect((await pub.call('publish', { channel: 'progress:p', data: { formId: 'f1', pct } })).error).toBeUndefined();
    const crit = await pub.call('publish', { channel: 'progress:p', data: { formId: 'f1', pct: 100 }, priority: 'critical' });
    // the window is a minute long: only the critical publication, with its priority carried, can close it now
    const frame = await sub.waitFor((f) => f.push === 'pubs' && f['channel'] === 'progress:p', 10_000);
    expect((frame['publications'] as Array<{ data: { pct: number } }>).map((p) => p.data.pct)).toEqual([100]);
    expect(frame['offset']).toBe((crit.result as { offset: number }).offset);
    expect(frame['skipped']).toBe(3);
    sub.close();
    pub.close();
  });
});
