import { randomBytes } from 'node:crypto';
import { Switchboard } from '@switchboard/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from './helpers/raw-client.js';
import { seeded } from './helpers/seeded.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Publication priorities on ordinary channels (namespace option `priorities`): a client may
 * name only what its namespace allows; on a congested connection (a subscriber's socket paused
 * on loopback, so the server's backlog rises above `limits.queueSignalDropBytes`) frames go
 * out critical first, then high, normal, low, while each channel keeps its offsets' order; and
 * a subscriber cut off meanwhile recovers every publication exactly once.
 */

const ALL = ['critical', 'high', 'normal', 'low'] as const;
type P = (typeof ALL)[number];
const CAPS = { 'feed:*': ['subscribe', 'publish', 'history'], 'plain:*': ['subscribe', 'publish'], 'project:*': ['subscribe', 'publish', 'signal'] };
const CHANNELS = Array.from({ length: 10 }, (_, i) => `feed:c${i}`);

describe('publication priorities', () => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer({
      namespaces: {
        project: {},
        plain: {},
        feed: { historySize: 10_000, priorities: { default: 'normal', allowed: [...ALL] } },
        urgent: { priorities: { default: 'high', allowed: ['high', 'critical'] } },
        progress: { historySize: 100, conflation: { windowMs: 60_000, key: 'formId' }, priorities: { default: 'normal', allowed: [...ALL] } },
        bars: { historySize: 1000, conflation: { windowMs: 50, key: 'formId' }, priorities: { default: 'normal', allowed: [...ALL] } },
      },
      limits: {
        queueSignalDropBytes: 16_384,
        publishPerSecondPerConnection: 100_000,
        eventsPerMinutePerUser: 10_000_000,
        commandsPerSecond: 100_000,
        signalsPerSecond: 100_000,
      },
    } as never);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('refuses a priority the namespace does not allow (103), a value that is none (107); the HTTP API may use any', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'p', caps: { ...CAPS, 'urgent:*': ['publish'] } }));
    expect((await c.call('publish', { channel: 'plain:x', data: 1, priority: 'high' })).error?.code).toBe(103);
    expect((await c.call('publish', { channel: 'plain:x', data: 1, priority: 'low' })).error?.code).toBe(103);
    expect((await c.call('publish', { channel: 'urgent:x', data: 1, priority: 'normal' })).error?.code).toBe(103);
    expect((await c.call('publish', { channel: 'feed:x', data: 1, priority: 'urgent' })).error?.code).toBe(107);
    expect((await c.call('publish', { channel: 'plain:x', data: 1, priority: 'normal' })).error).toBeUndefined();
    expect((await c.call('publish', { channel: 'plain:x', data: 1 })).error).toBeUndefined();
    expect((await c.call('publish', { channel: 'urgent:x', data: 1 })).error).toBeUndefined();
    expect((await c.call('publish', { channel: 'feed:x', data: 1, priority: 'critical' })).error).toBeUndefined();
    const http = (body: unknown) =>
      fetch(`${s.httpUrl}/api/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await http({ channel: 'plain:x', data: 1, priority: 'critical' })).status).toBe(200);
    expect((await http({ channel: 'plain:x', data: 1, priority: 'urgent' })).status).toBe(400);
    expect((await http({ channel: 'plain:x', data: 1, priority: 'high', delaySeconds: 5 })).status).toBe(400);
    c.close();
  });

  it('a critical publication of a conflating namespace closes the window at once and is never conflated away', async () => {
    const caps = { 'progress:*': ['subscribe', 'publish'] };
    const sub = await RawClient.connect(s.url, await s.token({ sub: 'bars', caps }));
    expect((await sub.call('subscribe', { channel: 'progress:p' })).error).toBeUndefined();
    const pub = await RawClient.connect(s.url, await s.token({ sub: 'bars-pub', caps }));
    for (const pct of [10, 20, 30]) expect((await pub.call('publish', { channel: 'progress:p', data: { formId: 'f1', pct } })).error).toBeUndefined();
    const crit = await pub.call('publish', { channel: 'progress:p', data: { formId: 'f1', pct: 100 }, priority: 'critical' });
    // the window is a minute long: only the critical publication can close it now
    const frame = await sub.waitFor((f) => f.push === 'pubs' && f['channel'] === 'progress:p', 10_000);
    const pubs = frame['publications'] as Array<{ offset: number; data: { pct: number } }>;
    expect(pubs.map((p) => p.data.pct)).toEqual([100]);
    expect(frame['offset']).toBe((crit.result as { offset: number }).offset);
    expect(frame['skipped']).toBe(3);
    sub.close();
    pub.close();
  });

  it('refuses a namespace whose default priority is not allowed', async () => {
    await expect(
      Switchboard.create({ config: { logLevel: 'silent', namespaces: { bad: { priorities: { default: 'low', allowed: ['normal'] } } } } as never }),
    ).rejects.toThrow(/priorities/);
  });

  /** A subscriber of the 10 channels and `project:r`, its socket paused and the server's backlog for it above the signal threshold. */
  async function congested(sub: string): Promise<{ slow: RawClient; pub: RawClient; socket: { pause(): void; resume(): void } }> {
    const slow = await RawClient.connect(s.url, await s.token({ sub, caps: CAPS }));
    for (const ch of [...CHANNELS, 'project:r']) expect((await slow.call('subscribe', { channel: ch })).error).toBeUndefined();
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const pub = await RawClient.connect(s.url, await s.token({ sub: `${sub}-pub`, caps: CAPS }));
    expect((await pub.call('subscribe', { channel: 'project:r' })).error).toBeUndefined();
    const drops = () => s.server.node.stats.drops.get('signal_backpressure') ?? 0;
    const before = drops();
    for (let i = 0; i < 3000 && drops() === before; i++) {
      // Fresh random bytes each time: the same payload again compresses to almost nothing
      // against the previous one (context takeover) and would never fill the queue.
      const big = randomBytes(6000).toString('base64');
      expect((await pub.call('publish', { channel: 'project:r', data: { i, big } })).error).toBeUndefined();
      await pub.call('signal', { channel: 'project:r', key: `k${i}`, data: i });
    }
    expect(drops()).toBeGreaterThan(before);
    return { slow, pub, socket };
  }

  /** Publish `n` publications over the 10 channels, each with a seeded priority; `seq` orders them as published. */
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

  it('once a held-back subscriber drains: critical before any low queued after it, each channel in offset order', async () => {
    const { slow, pub, socket } = await congested('slow');
    const sent = await publishMixed(pub, 400, 19);
    expect(s.server.node.stats.disconnects.get(3006) ?? 0).toBe(0);
    socket.resume();
    await slow.until(() => received(slow).length === sent.length, 20_000, 'every publication');
    const got = received(slow);
    const at = new Map(got.map((g, i) => [g.seq, i]));
    // every critical frame arrives before any low one published after it
    let checked = 0;
    for (const c of sent.filter((p) => p.priority === 'critical')) {
      for (const l of sent.filter((p) => p.priority === 'low' && p.seq > c.seq)) {
        expect(at.get(c.seq) as number).toBeLessThan(at.get(l.seq) as number);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
    // and the order is not simply the publish order: priorities reordered the channels
    expect(got.map((g) => g.seq)).not.toEqual(sent.map((p) => p.seq));
    // each channel's offsets strictly increase, with every publication once
    for (const ch of CHANNELS) {
      const offsets = got.filter((g) => g.channel === ch).map((g) => g.offset);
      expect(offsets).toEqual(
        sent
          .filter((p) => p.channel === ch)
          .map((p) => p.offset)
          .sort((a, b) => a - b),
      );
      for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1] as number);
    }
    expect(slow.closeCode).toBeNull();
    slow.close();
    pub.close();
  });

  it('a subscriber cut off while frames are held recovers every publication exactly once', async () => {
    const { slow, pub, socket } = await congested('cut');
    const epochs = new Map<string, string>();
    for (const ch of CHANNELS) {
      const h = await pub.call('history', { channel: ch, limit: 0 });
      epochs.set(ch, (h.result as { epoch: string }).epoch);
    }
    const sent = await publishMixed(pub, 200, 23);
    // Cut the connection (no close handshake) as soon as the first of these frames arrives.
    let before: ReturnType<typeof received> | null = null;
    slow.ws.on('message', () => {
      if (before !== null || received(slow).length === 0) return;
      before = received(slow);
      slow.ws.terminate();
    });
    socket.resume();
    await slow.until(() => before !== null, 20_000, 'the first frame');
    const got = before as unknown as ReturnType<typeof received>;
    expect(got.length).toBeLessThan(sent.length);
    // positions the client reached per channel (its frames of a channel came in offset order)
    const again = await RawClient.connect(s.url, await s.token({ sub: 'cut2', caps: CAPS }));
    const all = got.map((g) => g.seq);
    let recovered = 0;
    for (const ch of CHANNELS) {
      const mine = got.filter((g) => g.channel === ch);
      const start = sent.filter((p) => p.channel === ch).reduce((m, p) => Math.min(m, p.offset), Number.POSITIVE_INFINITY) - 1;
      const offset = mine.length > 0 ? (mine.at(-1)?.offset as number) : start;
      const reply = await again.call('subscribe', { channel: ch, recover: { offset, epoch: epochs.get(ch) } });
      expect(reply.error).toBeUndefined();
      const r = reply.result as { recovered: boolean; publications?: Array<{ data: { seq: number } }> };
      expect(r.recovered).toBe(true);
      for (const p of r.publications ?? []) {
        all.push(p.data.seq);
        recovered++;
      }
    }
    expect(recovered).toBe(sent.length - got.length);
    expect(all.sort((a, b) => a - b)).toEqual(sent.map((p) => p.seq));
    again.close();
    pub.close();
  });

  it('over the queue limit with a critical frame held: sheds the routine channel (3009, recovered exactly once), never closes', async () => {
    const t = await startTestServer({
      namespaces: { project: {}, feed: { historySize: 10_000, priorities: { default: 'normal', allowed: [...ALL] } } },
      limits: {
        queueSignalDropBytes: 16_384,
        queueMaxBytes: 262_144,
        publishPerSecondPerConnection: 100_000,
        eventsPerMinutePerUser: 10_000_000,
        commandsPerSecond: 100_000,
        signalsPerSecond: 100_000,
      },
    } as never);
    try {
      const slow = await RawClient.connect(t.url, await t.token({ sub: 'slow', caps: CAPS }));
      const sub0 = await slow.call('subscribe', { channel: 'feed:routine' });
      expect((await slow.call('subscribe', { channel: 'feed:alarm' })).error).toBeUndefined();
      const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      const caps = { 'feed:*': ['subscribe', 'publish', 'signal'] };
      const pub = await RawClient.connect(t.url, await t.token({ sub: 'pub', caps }));
      expect((await pub.call('subscribe', { channel: 'feed:routine' })).error).toBeUndefined();
      const stat = (name: string) => t.server.node.stats.drops.get(name) ?? 0;
      let n = 0;
      const routine = async () => {
        // Fresh random bytes each time: a repeated payload compresses to almost nothing against the previous one.
        const big = randomBytes(6000).toString('base64');
        expect((await pub.call('publish', { channel: 'feed:routine', data: { n, big } })).error).toBeUndefined();
        n++;
      };
      // until frames are held for it (a signal to it is dropped), then one critical publication joins them
      while (n < 3000 && stat('signal_backpressure') === 0) {
        await routine();
        await pub.call('signal', { channel: 'feed:routine', key: `k${n}`, data: n });
      }
      expect(stat('signal_backpressure')).toBeGreaterThan(0);
      expect((await pub.call('publish', { channel: 'feed:alarm', data: { n }, priority: 'critical' })).error).toBeUndefined();
      while (n < 5000 && stat('priority_shed') === 0 && stat('slow_consumer') === 0) await routine();
      expect(stat('priority_shed')).toBe(1);
      expect(stat('slow_consumer')).toBe(0);
      socket.resume();
      await slow.until(() => slow.pushes('unsubscribe', 'feed:routine').length === 1, 20_000, 'the routine channel told to resubscribe');
      expect(slow.pushes('unsubscribe', 'feed:routine')[0]?.['code']).toBe(3009);
      await slow.until(() => slow.pushes('pub', 'feed:alarm').length === 1, 20_000, 'the critical publication');
      expect(slow.closeCode).toBeNull();
      expect(t.server.node.stats.disconnects.get(3006) ?? 0).toBe(0);
      // the routine channel: what arrived, then what recovery gives, is every publication exactly once
      const arrived = slow.pushes('pub', 'feed:routine').map((f) => f['offset'] as number);
      const { epoch, offset: start } = sub0.result as { epoch: string; offset: number };
      const last = arrived.at(-1) ?? start;
      const again = await slow.call('subscribe', { channel: 'feed:routine', recover: { offset: last, epoch } });
      const r = again.result as { recovered: boolean; publications: Array<{ offset: number }> };
      expect(r.recovered).toBe(true);
      const all = [...arrived, ...r.publications.map((p) => p.offset)];
      expect(all).toEqual(Array.from({ length: n }, (_, i) => start + 1 + i));
      slow.close();
      pub.close();
    } finally {
      await t.close();
    }
  });

  /** A paused subscriber of `bars:x` and `project:r` on `t`, with frames held for it; a publisher and an unpaused watcher of `bars:x`. */
  async function heldBars(t: TestServer, name: string) {
    const caps = { 'bars:*': ['subscribe', 'publish'], 'project:*': ['subscribe', 'publish', 'signal'] };
    const slow = await RawClient.connect(t.url, await t.token({ sub: name, caps }));
    for (const ch of ['bars:x', 'project:r']) expect((await slow.call('subscribe', { channel: ch })).error).toBeUndefined();
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const pub = await RawClient.connect(t.url, await t.token({ sub: `${name}-pub`, caps }));
    expect((await pub.call('subscribe', { channel: 'project:r' })).error).toBeUndefined();
    const watch = await RawClient.connect(t.url, await t.token({ sub: `${name}-watch`, caps }));
    expect((await watch.call('subscribe', { channel: 'bars:x' })).error).toBeUndefined();
    const drops = () => t.server.node.stats.drops.get('signal_backpressure') ?? 0;
    const before = drops();
    for (let i = 0; i < 3000 && drops() === before; i++) {
      // Fresh random bytes each time: the same payload again compresses to almost nothing
      // against the previous one (context takeover) and would never fill the queue.
      const big = randomBytes(6000).toString('base64');
      expect((await pub.call('publish', { channel: 'project:r', data: { i, big } })).error).toBeUndefined();
      await pub.call('signal', { channel: 'project:r', key: `k${i}`, data: i });
    }
    expect(drops()).toBeGreaterThan(before);
    /** One window: publish each of `items`, then wait until the watcher has the window's frame. */
    const round = async (items: Array<{ formId: string; v: number; priority?: P; pad?: string }>): Promise<number> => {
      let offset = 0;
      for (const { priority, ...data } of items) {
        const reply = await pub.call('publish', { channel: 'bars:x', data, ...(priority ? { priority } : {}) });
        expect(reply.error).toBeUndefined();
        offset = (reply.result as { offset: number }).offset;
      }
      await watch.waitFor((f) => f.push === 'pubs' && f['offset'] === offset, 10_000);
      return offset;
    };
    return { slow, pub, watch, socket, round };
  }

  const barsOf = (c: RawClient) =>
    c.pushes('pubs', 'bars:x') as Array<{ offset: number; skipped: number; publications: Array<{ data: { formId: string; v: number } }> }>;

  it('held back, a conflating channel keeps one pending frame: low publications conflated across windows, normal ones one per window, critical all', async () => {
    const { slow, pub, watch, socket, round } = await heldBars(s, 'held-bars');
    const conflated = () => s.server.node.stats.drops.get('conflated_backpressure') ?? 0;
    const before = conflated();
    const rounds = 8;
    let last = 0;
    for (let r = 0; r < rounds; r++) {
      last = await round([
        { formId: 'L', v: r, priority: 'low' },
        { formId: 'N', v: r },
        ...(r % 3 === 0 ? [{ formId: 'C', v: r, priority: 'critical' as const }] : []),
      ]);
    }
    expect(conflated() - before).toBe(rounds - 1);
    expect(s.server.node.stats.disconnects.get(3006) ?? 0).toBe(0);
    socket.resume();
    await slow.until(() => barsOf(slow).some((f) => f.offset === last), 20_000, 'the last window');
    const pubs = barsOf(slow).flatMap((f) => f.publications.map((p) => p.data));
    const values = (k: string) => pubs.filter((p) => p.formId === k).map((p) => p.v);
    expect(values('L')).toEqual([rounds - 1]);
    expect(values('N')).toEqual(Array.from({ length: rounds }, (_, r) => r));
    expect(values('C')).toEqual([0, 3, 6]);
    // one frame per window the watcher got; the held-back subscriber far fewer, covering the same offsets
    expect(barsOf(slow).length).toBeLessThan(rounds);
    expect(barsOf(watch).length).toBe(rounds);
    slow.close();
    pub.close();
    watch.close();
  });

  it('over the queue limit, held conflated windows conflate their normal publications before the connection would be closed', async () => {
    const t = await startTestServer({
      namespaces: { project: {}, bars: { historySize: 1000, conflation: { windowMs: 50, key: 'formId' } } },
      limits: {
        queueSignalDropBytes: 16_384,
        queueMaxBytes: 262_144,
        publishPerSecondPerConnection: 100_000,
        eventsPerMinutePerUser: 10_000_000,
        commandsPerSecond: 100_000,
        signalsPerSecond: 100_000,
      },
    } as never);
    try {
      const { slow, pub, watch, socket, round } = await heldBars(t, 'over');
      const pad = randomBytes(6000).toString('base64');
      const rounds = 40; // 40 windows × 2 keys × 8 KB: far above the limit unless conflated
      let last = 0;
      for (let r = 0; r < rounds; r++)
        last = await round([
          { formId: 'a', v: r, pad },
          { formId: 'b', v: r, pad },
        ]);
      const stat = (name: string) => t.server.node.stats.drops.get(name) ?? 0;
      expect(stat('slow_consumer')).toBe(0);
      expect(stat('priority_shed')).toBe(0);
      expect(stat('conflated_backpressure')).toBeGreaterThan(0);
      socket.resume();
      await slow.until(() => barsOf(slow).some((f) => f.offset === last), 20_000, 'the last window');
      expect(slow.closeCode).toBeNull();
      const frames = barsOf(slow);
      // the position covers every offset, the latest of each key arrived, and what was skipped is counted
      const got = frames.flatMap((f) => f.publications.map((p) => p.data));
      for (const k of ['a', 'b']) expect(got.filter((p) => p.formId === k).at(-1)?.v).toBe(rounds - 1);
      expect(got.length + frames.reduce((n, f) => n + f.skipped, 0)).toBe(rounds * 2);
      slow.close();
      pub.close();
      watch.close();
    } finally {
      await t.close();
    }
  });
});
