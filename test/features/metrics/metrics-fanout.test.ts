import { describe, expect, it } from 'vitest';
import { RawClient } from '../../helpers/raw-client.js';
import { seeded } from '../../helpers/seeded.js';
import { startMetricsServer, T0 } from './helpers.js';

/**
 * Subscriptions that follow the same stores share the server's work (one change log per
 * store, one encoding of a series' buckets per round): each subscriber still gets exactly the
 * frames it would get alone, byte for byte (but for its subscription id). The same points go
 * in over HTTP on the same server clock to a server with each subscriber alone and to one with
 * all of them; overlapping series sets, in different orders, with different stats and rates.
 */

const CAPS = { 'metrics:*': ['subscribe'] };
const SERIES = ['api.latency_ms', 'queue.depth', 'jobs.done'] as const;
const SUBSCRIBERS = {
  a: { series: ['api.latency_ms', 'queue.depth'], stats: ['count', 'max'], maxRate: 10 },
  b: { series: ['queue.depth', 'jobs.done', 'api.latency_ms'], stats: ['count', 'avg', 'p95', 'last'], maxRate: 4 },
  c: { series: ['queue.depth'], stats: ['count', 'max'], maxRate: 10 },
  d: { series: ['jobs.done', 'api.latency_ms'], stats: ['count', 'max'], maxRate: 4, window: '5s' },
} as const;
type Name = keyof typeof SUBSCRIBERS;

/** The frame lines of a subscriber's metric pushes, its subscription id written as `ID`. */
function frameLines(c: RawClient, id: string): string[] {
  return c.raw
    .flatMap((text) => text.split('\n'))
    .filter((line) => line.includes('"feature":"metrics"'))
    .map((line) => line.replace(`"id":${JSON.stringify(id)}`, '"id":"ID"'));
}

/**
 * Runs the same 80 steps of points with the given subscribers on a fresh server: each step
 * moves the clock 40–260 ms and ingests one batch into some of the series, a few points late.
 * A model of the pacer says how many frames each subscriber has by then (one at once for a
 * change when its interval passed, else one when the clock passes it), and each step waits for
 * them, so every frame is built at the same server time in every run.
 */
async function run(names: Name[]): Promise<Record<string, string[]>> {
  const m = await startMetricsServer();
  const clients: RawClient[] = [];
  try {
    const subs: Array<{ name: Name; c: RawClient; id: string; interval: number; last: number; pending: boolean; expected: number }> = [];
    for (const name of names) {
      const c = await RawClient.connect(m.s.url, await m.s.token({ sub: name, caps: CAPS }));
      clients.push(c);
      const reply = await c.call('metrics.subscribe', SUBSCRIBERS[name]);
      expect(reply.error).toBeUndefined();
      const result = reply.result as { id: string; rate: number };
      expect(result.rate).toBe(SUBSCRIBERS[name].maxRate);
      // The backfill is the first frame.
      subs.push({ name, c, id: result.id, interval: 1000 / result.rate, last: T0, pending: false, expected: 1 });
    }
    const arrived = async (): Promise<void> => {
      for (const s of subs) await s.c.until(() => frameLines(s.c, s.id).length === s.expected, 5000, `frame ${s.expected} of ${s.name}`);
    };
    await arrived();

    const rnd = seeded(11);
    for (let step = 0; step < 80; step++) {
      m.clock.advance([40, 60, 130, 260][Math.floor(rnd() * 4)] as number);
      const now = m.clock.now();
      for (const s of subs)
        if (s.pending && now - s.last >= s.interval) {
          s.pending = false;
          s.last = now;
          s.expected++;
        }
      await arrived();
      const touched = SERIES.filter(() => rnd() < 0.7);
      const blocks = touched.map((series) => {
        const n = 1 + Math.floor(rnd() * 4);
        const ts = Array.from({ length: n }, () => (rnd() < 0.2 ? now - Math.floor(rnd() * 3000) : now));
        return { series, ts, values: ts.map(() => Math.round(rnd() * 10_000) / 8) };
      });
      if (blocks.length === 0) continue;
      const res = await m.ingest({ blocks });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      for (const s of subs) {
        if (!SUBSCRIBERS[s.name].series.some((x) => (touched as readonly string[]).includes(x))) continue;
        if (now - s.last >= s.interval) {
          s.last = now;
          s.expected++;
        } else s.pending = true;
      }
      await arrived();
    }
    m.clock.advance(1000);
    for (const s of subs) if (s.pending) s.expected++;
    await arrived();
    return Object.fromEntries(subs.map((s) => [s.name, frameLines(s.c, s.id)]));
  } finally {
    for (const c of clients) c.close();
    await m.s.close();
  }
}

describe('metric subscriptions sharing their stores', () => {
  it('send each subscriber, among others, exactly the frames it gets alone', async () => {
    const together = await run(['a', 'b', 'c', 'd']);
    for (const name of Object.keys(SUBSCRIBERS) as Name[]) {
      const alone = await run([name]);
      expect(together[name]?.length, name).toBeGreaterThan(20);
      expect(together[name], name).toEqual(alone[name]);
    }
  });
});
