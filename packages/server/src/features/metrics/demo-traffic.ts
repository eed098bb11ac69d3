import type { PointInput } from './metric-stores.js';

/** The demo's request counter: one point per route and tick, its value the requests of the tick. */
export const DEMO_REQUESTS = 'demo.requests';
/** The demo's latencies: one point per request. */
export const DEMO_LATENCY = 'demo.latency_ms';

/** The routes the demo's traffic is spread over: each one's share of the requests and its median latency, ms. */
export const DEMO_ROUTES: ReadonlyArray<{ route: string; share: number; median: number }> = Object.freeze([
  { route: '/api/orders', share: 0.5, median: 45 },
  { route: '/api/search', share: 0.3, median: 110 },
  { route: '/login', share: 0.2, median: 25 },
]);
/** The demo's "day": the traffic's sine has this period, so a chart's window shows it rise and fall. */
export const DEMO_DAY_MS = 10 * 60_000;
/** Requests per second at the middle of the day, before noise and spikes. */
const BASE_RPS = 60;
/** Chance per second that a latency spike starts on one route, and how long one lasts, ms. */
const SPIKES_PER_SECOND = 1 / 45;
const SPIKE_MS = { min: 3000, max: 8000 };
/** Share of requests that are slow (a cache miss, a lock): what p99 sees. */
const SLOW_SHARE = 0.02;
/** Requests one tick generates at most, whatever its length (a node that stalled does not catch up in one burst). */
const MAX_REQUESTS_PER_TICK = 500;

/** Each label set once: consecutive points of one labels object share a store in `MetricStores.write`. */
const ALL: Readonly<Record<string, string>> = Object.freeze({});
const LABELS = DEMO_ROUTES.map((r) => Object.freeze({ route: r.route }));

/**
 * The demo's made-up web traffic, a pure function of time and a random source: requests per
 * second follow a sine over a compressed day with noise, latencies are log-normal per route,
 * grow with the load, have a slow tail, and now and then one route spikes for a few seconds.
 * `tick` turns an elapsed interval into the points of `demo.requests` (counter) and
 * `demo.latency_ms` (distribution), per route and for all routes (the empty label set).
 */
export class DemoTraffic {
  readonly #random: () => number;
  #spike: { route: number; until: number; factor: number } | null = null;
  /** Fractions of a request carried to the next tick, per route. */
  readonly #carry = DEMO_ROUTES.map(() => 0);

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** Requests per second at `t` (Unix ms): the day's sine, ±15 % noise. */
  rps(t: number): number {
    const day = 1 + 0.6 * Math.sin((2 * Math.PI * (t % DEMO_DAY_MS)) / DEMO_DAY_MS);
    return BASE_RPS * day * (0.85 + 0.3 * this.#random());
  }

  /** The points of `ms` of traffic ending at `t`. */
  tick(t: number, ms: number): PointInput[] {
    const seconds = Math.max(0, ms) / 1000;
    this.#maybeSpike(t, seconds);
    const rps = this.rps(t);
    const load = rps / BASE_RPS;
    const counts: PointInput[] = [];
    const latencies: PointInput[][] = [];
    let total = 0;
    const totals: PointInput[] = [];
    DEMO_ROUTES.forEach((r, i) => {
      const expected = rps * r.share * seconds + (this.#carry[i] as number);
      const n = Math.min(MAX_REQUESTS_PER_TICK, Math.floor(expected));
      this.#carry[i] = expected - Math.floor(expected);
      total += n;
      const labels = LABELS[i] as Readonly<Record<string, string>>;
      counts.push({ series: DEMO_REQUESTS, labels, ts: t, value: n });
      const own: PointInput[] = [];
      const spiking = this.#spike !== null && this.#spike.route === i && t < this.#spike.until ? this.#spike.factor : 1;
      for (let k = 0; k < n; k++) {
        const value = Math.round(this.#latency(r.median, load) * spiking * 100) / 100;
        own.push({ series: DEMO_LATENCY, labels, ts: t, value });
        totals.push({ series: DEMO_LATENCY, labels: ALL, ts: t, value });
      }
      latencies.push(own);
    });
    counts.push({ series: DEMO_REQUESTS, labels: ALL, ts: t, value: total });
    return [...counts, ...latencies.flat(), ...totals];
  }

  /** One latency, ms: log-normal around the route's median, slower under load, with a slow tail. */
  #latency(median: number, load: number): number {
    const slow = this.#random() < SLOW_SHARE ? 4 + 4 * this.#random() : 1;
    return Math.max(1, median * (0.7 + 0.3 * load) * Math.exp(0.4 * this.#gaussian()) * slow);
  }

  #maybeSpike(t: number, seconds: number): void {
    if (this.#spike !== null && t >= this.#spike.until) this.#spike = null;
    if (this.#spike !== null || this.#random() >= SPIKES_PER_SECOND * seconds) return;
    const route = Math.floor(this.#random() * DEMO_ROUTES.length);
    const until = t + SPIKE_MS.min + this.#random() * (SPIKE_MS.max - SPIKE_MS.min);
    this.#spike = { route, until, factor: 3 + 5 * this.#random() };
  }

  /** A standard normal deviate (Box–Muller). */
  #gaussian(): number {
    const u = 1 - this.#random();
    const v = this.#random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
