import { describe, expect, it } from 'vitest';
import { seeded } from '../../../../../test/helpers/seeded.js';
import { DEMO_DAY_MS, DEMO_LATENCY, DEMO_REQUESTS, DEMO_ROUTES, DemoTraffic } from '../../../src/features/metrics/demo-traffic.js';

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(q * xs.length) - 1)] as number;

/** The demo's made-up traffic: its points, their consistency, and the shape that makes charts move. */
describe('DemoTraffic', () => {
  it('writes, per tick, a request count per route and for all routes, and one latency per request in both', () => {
    const traffic = new DemoTraffic(seeded(1));
    const points = traffic.tick(1_700_000_000_000, 1000);
    const counts = points.filter((p) => p.series === DEMO_REQUESTS);
    expect(counts.map((p) => p.labels)).toEqual([...DEMO_ROUTES.map((r) => ({ route: r.route })), {}]);
    const perRoute = counts.slice(0, DEMO_ROUTES.length).map((p) => p.value as number);
    expect(counts.at(-1)?.value).toBe(sum(perRoute));
    const latencies = points.filter((p) => p.series === DEMO_LATENCY);
    for (const [i, r] of DEMO_ROUTES.entries()) expect(latencies.filter((p) => p.labels['route'] === r.route)).toHaveLength(perRoute[i] as number);
    expect(latencies.filter((p) => Object.keys(p.labels).length === 0)).toHaveLength(sum(perRoute));
    for (const p of points) {
      expect(Number.isFinite(p.value)).toBe(true);
      expect(p.value as number).toBeGreaterThanOrEqual(0);
      expect(p.ts).toBe(1_700_000_000_000);
    }
  });

  it('follows the day: more requests at its peak than at its trough, and carries fractions of a request between short ticks', () => {
    const traffic = new DemoTraffic(seeded(2));
    const requests = (from: number) => {
      let n = 0;
      for (let t = from; t < from + 30_000; t += 250)
        n += traffic.tick(t, 250).find((p) => p.series === DEMO_REQUESTS && !('route' in p.labels))?.value as number;
      return n;
    };
    const peak = requests(DEMO_DAY_MS / 4);
    const trough = requests((3 * DEMO_DAY_MS) / 4);
    expect(peak).toBeGreaterThan(2 * trough);
    // 30 s at about 60 × 1.6 per second at the peak: short ticks lose no requests to rounding.
    expect(peak).toBeGreaterThan(30 * 60 * 1.6 * 0.8);
  });

  it('has a slow tail and spikes: p99 well above p50, and some seconds whose p95 jumps', () => {
    const traffic = new DemoTraffic(seeded(3));
    const all: number[] = [];
    const p95s: number[] = [];
    for (let t = 0; t < 10 * 60_000; t += 1000) {
      const second = traffic
        .tick(t, 1000)
        .filter((p) => p.series === DEMO_LATENCY && !('route' in p.labels))
        .map((p) => p.value as number);
      all.push(...second);
      if (second.length > 0) p95s.push(quantile(second, 0.95));
    }
    expect(quantile(all, 0.99)).toBeGreaterThan(3 * quantile(all, 0.5));
    expect(Math.max(...p95s)).toBeGreaterThan(2 * quantile(p95s, 0.5));
  });

  it('never writes more than a bounded number of requests in one tick, however long', () => {
    const points = new DemoTraffic(seeded(4)).tick(0, 3_600_000);
    expect(points.filter((p) => p.series === DEMO_LATENCY).length).toBeLessThanOrEqual(2 * 500 * DEMO_ROUTES.length);
  });
});
