import { describe, expect, it } from 'vitest';
import { MetricDecodeError } from '../../../src/features/metrics/bytes.js';
import { metricsConfig } from '../../../src/features/metrics/config.js';
import { MetricStores, type PointInput, storeKey } from '../../../src/features/metrics/metric-stores.js';
import { prng } from './reference.js';

/**
 * Partial buckets of several nodes merged on read: three "nodes" (stores on one clock) each
 * ingest a share of a seeded generator's points and exchange their changed buckets; every
 * node then reads what one store fed every point reads.
 */
const T0 = 1_700_000_000_000;
const config = metricsConfig.parse({
  series: { 'api.latency_ms': { kind: 'distribution', labels: ['route'] }, jobs: { kind: 'counter' } },
  maxSeries: 5,
});
const STATS = ['count', 'sum', 'min', 'max', 'avg', 'last', 'p50', 'p95', 'p99'] as const;

function cluster(n: number, now: { t: number }) {
  const clock = { now: () => now.t };
  return Array.from({ length: n }, () => new MetricStores(config, clock));
}

/** Every node announces its changed buckets to every other (what the pusher does once per interval). */
function exchange(nodes: MetricStores[], pending: Array<Map<string, Map<number, Set<number>>>>): void {
  nodes.forEach((from, i) => {
    const bytes = from.exportParts(pending[i] as Map<string, Map<number, Set<number>>>, 2);
    (pending[i] as Map<string, Map<number, Set<number>>>).clear();
    nodes.forEach((to, j) => {
      if (j !== i) for (const b of bytes) to.acceptRemote(`node-${i}`, b);
    });
  });
}

function tracking(nodes: MetricStores[]): Array<Map<string, Map<number, Set<number>>>> {
  return nodes.map((s) => {
    const pending = new Map<string, Map<number, Set<number>>>();
    s.onChange((key, changed, local) => {
      if (!local) return;
      const steps = pending.get(key) ?? new Map<number, Set<number>>();
      for (const [step, starts] of changed) steps.set(step, new Set([...(steps.get(step) ?? []), ...starts]));
      pending.set(key, steps);
    });
    return pending;
  });
}

/** Points over 20 s before T0 + 20 s, out of order within the lateness, each timestamp used once (so `last` is one point). */
function points(seed: number, n: number): PointInput[] {
  const rnd = prng(seed);
  const used = new Set<number>();
  const out: PointInput[] = [];
  while (out.length < n) {
    const ts = T0 + Math.floor(rnd() * 20_000);
    if (used.has(ts)) continue;
    used.add(ts);
    const shape = out.length % 3;
    const value = shape === 0 ? Math.exp(rnd() * 6) : shape === 1 ? (rnd() - 0.5) * 1000 : 0;
    out.push({ series: 'api.latency_ms', labels: { route: rnd() < 0.5 ? '/a' : '/b' }, ts, value });
  }
  // Sorted by time jittered by up to ±3 s: a point comes at most 6 s after a newer one (the lateness is 10 s).
  const keyed = out.map((p) => ({ p, key: (p.ts as number) + (rnd() - 0.5) * 6000 }));
  return keyed.sort((a, b) => a.key - b.key).map((x) => x.p);
}

const read = (s: MetricStores, route: string, resolution: string) =>
  s.read('acme', 'api.latency_ms', { route }, resolution, T0 - 60_000, T0 + 30_000, [...STATS]);

describe('partial buckets merged across nodes', () => {
  it('reads on every node what one node fed every point reads, at every resolution (10 seeds)', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const now = { t: T0 + 20_000 };
      const nodes = cluster(3, now);
      const [reference] = cluster(1, now) as [MetricStores];
      const pending = tracking(nodes);
      const all = points(seed, 600);
      // Ingested in batches of 50 at the clock of their newest point; each batch to one node.
      for (let i = 0; i < all.length; i += 50) {
        const batch = all.slice(i, i + 50);
        for (const p of batch) {
          const node = nodes[Math.floor(prng(seed * 1000 + i)() * 3)] as MetricStores;
          expect(node.check('acme', [p]).first).toBeNull();
          node.write('acme', [p]);
        }
        expect(reference.check('acme', batch).first).toBeNull();
        reference.write('acme', batch);
        if (i % 150 === 0) exchange(nodes, pending);
      }
      exchange(nodes, pending);
      for (const resolution of ['1s', '10s', '1m'])
        for (const route of ['/a', '/b']) {
          const expected = read(reference, route, resolution);
          for (const node of nodes) expect(read(node, route, resolution), `seed ${seed} ${resolution} ${route}`).toEqual(expected);
        }
    }
  });

  it('replaces a node part with its newer announcement, so a re-sent or a lost announcement never double counts', () => {
    const now = { t: T0 + 5000 };
    const [a, b] = cluster(2, now) as [MetricStores, MetricStores];
    const pending = tracking([a, b]);
    a.write('acme', [{ series: 'jobs', labels: {}, ts: T0, value: 2 }]);
    const first = a.exportParts(pending[0] as Map<string, Map<number, Set<number>>>, 10);
    a.write('acme', [{ series: 'jobs', labels: {}, ts: T0 + 1, value: 3 }]);
    const second = a.exportParts(pending[0] as Map<string, Map<number, Set<number>>>, 10);
    // The second announcement arrives, then the first again: b keeps a's newest whole bucket.
    for (const bytes of [...second, ...first, ...second]) b.acceptRemote('a', bytes);
    const sumOn = (s: MetricStores) => {
      const r = s.read('acme', 'jobs', {}, '1s', T0, T0 + 1000, ['count', 'sum']);
      return r?.ok ? [r.count[0], r.stats.sum?.[0]] : r;
    };
    expect(sumOn(b)).toEqual([2, 5]);
    // b's own store stays empty: what is persisted on b is only what b ingested.
    expect(b.held('acme', 'jobs', {})).toBeUndefined();
    b.write('acme', [{ series: 'jobs', labels: {}, ts: T0 + 2, value: 10 }]);
    expect(sumOn(b)).toEqual([3, 15]);
    expect(b.held('acme', 'jobs', {})?.store.bucket(1000, T0)?.sum).toBe(10);
    // Live frames read the same merge.
    expect(b.rows(storeKey('acme', 'jobs', {}), 1000, [T0], ['count', 'sum'])).toEqual([{ start: T0, values: [3, 15] }]);
  });

  it('breaks a tie of timestamps for last the same way on every node, whatever the order parts arrive in', () => {
    const now = { t: T0 + 5000 };
    const nodes = cluster(3, now);
    const pending = tracking(nodes);
    for (const [i, n] of nodes.entries()) n.write('acme', [{ series: 'jobs', labels: {}, ts: T0 + 500, value: [7, 9, 8][i] as number }]);
    exchange(nodes, pending);
    const lasts = nodes.map((n) => {
      const r = n.read('acme', 'jobs', {}, '1s', T0, T0 + 1000, ['last']);
      return r?.ok ? r.stats.last?.[0] : r;
    });
    // Same timestamp and same arrival stamp: the larger value wins, on every node.
    expect(lasts).toEqual([9, 9, 9]);
  });

  it('tells listeners which buckets a part changed, drops parts past their retention and refuses malformed bytes whole', () => {
    const now = { t: T0 + 5000 };
    const [a, b] = cluster(2, now) as [MetricStores, MetricStores];
    const pending = tracking([a, b]);
    const heard: Array<[string, number[] | undefined, boolean]> = [];
    b.onChange((key, changed, local) => heard.push([key, changed.get(1000) as number[] | undefined, local]));
    a.write('acme', [{ series: 'jobs', labels: {}, ts: T0 + 10, value: 1 }]);
    const [bytes] = a.exportParts(pending[0] as Map<string, Map<number, Set<number>>>, 10) as [Uint8Array];
    b.acceptRemote('a', bytes);
    expect(heard).toEqual([[expect.stringContaining('jobs'), [T0], false]]);
    expect(b.holders('jobs', {})).toEqual(['acme']);
    expect(b.readable).toBe(1);
    expect(b.remote.parts).toBe(3);

    const broken = bytes.slice(0, bytes.length - 3);
    expect(() => b.acceptRemote('a', broken)).toThrow(MetricDecodeError);
    const wrong = bytes.slice();
    wrong[0] = 9;
    expect(() => b.acceptRemote('a', wrong)).toThrow(MetricDecodeError);
    expect(b.remote.parts).toBe(3);

    // 1 s buckets are kept 60 s, 10 s buckets 5 min, 1 min buckets 15 min (the defaults).
    now.t = T0 + 61_000;
    b.sweep();
    expect(b.remote.parts).toBe(2);
    now.t = T0 + 16 * 60_000;
    b.sweep();
    expect(b.remote.parts).toBe(0);
    expect(b.readable).toBe(0);
    expect(b.holders('jobs', {})).toEqual([]);
  });

  it("holds a sender to the tenant's series cap, and leaves other tenants alone", () => {
    const now = { t: T0 + 5000 };
    const [a, b] = cluster(2, now) as [MetricStores, MetricStores];
    const pending = tracking([a, b]);
    for (const route of ['/1', '/2', '/3', '/4', '/5']) a.write('acme', [{ series: 'api.latency_ms', labels: { route }, ts: T0, value: 1 }]);
    a.write('other', [{ series: 'jobs', labels: {}, ts: T0, value: 1 }]);
    const bytes = a.exportParts(pending[0] as Map<string, Map<number, Set<number>>>, 100);
    // A sender announcing a sixth store of acme (as a faulty node could): ignored.
    const [c] = cluster(1, now) as [MetricStores];
    const pendingC = tracking([c]);
    c.write('acme', [{ series: 'api.latency_ms', labels: { route: '/6' }, ts: T0, value: 1 }]);
    const extra = c.exportParts(pendingC[0] as Map<string, Map<number, Set<number>>>, 100);
    for (const x of [...bytes, ...extra]) b.acceptRemote('a', x);
    expect(b.remote.size).toBe(6);
    expect(b.holders('api.latency_ms', { route: '/6' })).toEqual([]);
    expect(b.holders('jobs', {})).toEqual(['other']);
  });
});
