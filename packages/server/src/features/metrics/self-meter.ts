import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { CONSOLE_TENANT, type SelfFigures, type TenantFigures } from '../../observability/self-figures.js';
import { Bucket } from './bucket.js';
import type { Clock } from './buckets.js';
import type { MetricStores, SystemPoint } from './metric-stores.js';
import { MAX_METERED_TENANTS } from './system-series.js';

/** The `method` label of the command latency merged over every method (what the console's overview charts). */
export const EVERY_METHOD = '*';

/** The node-level traffic series and the console tenant's figure each leaves out. */
const OWN_TRAFFIC = [
  ['sb.messages_in', 'messagesIn'],
  ['sb.messages_out', 'messagesOut'],
  ['sb.bytes_in', 'bytesIn'],
  ['sb.bytes_out', 'bytesOut'],
] as const satisfies ReadonlyArray<readonly [string, keyof TenantFigures]>;

/** The event-loop delay monitor's resolution, ms (subtracted from what it measures: an idle loop reads 0). */
const LAG_RESOLUTION_MS = 20;

/** What the meter reads of the ingest path: points written per transport, cumulative (the counters `/metrics` mirrors). */
export interface IngestTotals {
  points(): Iterable<[string, number]>;
}

export interface SelfMeterOptions {
  figures: SelfFigures;
  stores: MetricStores;
  ingest: IngestTotals;
  nodeId: string;
  clock: Clock;
  logger: Logger;
}

/**
 * The server meters itself into its system scope (system-series.ts), once per sample: each
 * cumulative counter `/metrics` exports (NodeStats, the tenants' traffic, the ingest counters)
 * becomes a counter point of its change since the previous sample, each level (connections,
 * heap, lag) a gauge point, and the command and HTTP latencies the histograms observed
 * since the previous sample one distribution bucket each, merged exactly. Nothing is counted
 * twice: the observers hear the histograms' own call sites, and gather into one bucket per
 * method or route (no allocation per observation beyond a sketch's rare growth).
 */
export class SelfMeter {
  readonly #o: SelfMeterOptions;
  /** Cumulative value of each counter at the previous sample, by `series\0label set`. */
  #prev = new Map<string, number>();
  /** The console tenant's traffic at the previous sample (OWN_TRAFFIC's figures, in order). */
  #ownPrev = [0, 0, 0, 0];
  #commands = new Map<string, Bucket>();
  #http = new Map<string, Bucket>();
  readonly #lag: IntervalHistogram;
  #cpu = process.cpuUsage();
  #cpuAt = performance.now();
  readonly #stop: Array<() => void> = [];
  #timer: NodeJS.Timeout | null = null;
  #warned = false;

  constructor(options: SelfMeterOptions) {
    this.#o = options;
    this.#lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    // The counters' values now are the baseline: the first sample counts what happened since.
    this.#prev = this.#counters(new Map(), new Set(), () => {});
    this.#ownTraffic();
  }

  /** What the console's own connections sent and received since the previous sample (OWN_TRAFFIC's order). */
  #ownTraffic(): number[] {
    let own: TenantFigures | undefined;
    for (const [tenant, t] of this.#o.figures.tenants()) if (tenant === CONSOLE_TENANT) own = t;
    const now = OWN_TRAFFIC.map(([, figure]) => own?.[figure] ?? 0);
    // A tenant forgotten (no connection, no traffic for a while) and seen again counts from zero.
    const delta = now.map((v, i) => (v < (this.#ownPrev[i] as number) ? v : v - (this.#ownPrev[i] as number)));
    this.#ownPrev = now;
    return delta;
  }

  /** Starts sampling every `interval` ms (0: only when `sample()` is called) and hearing the latencies. */
  start(interval: number): void {
    const gather = (into: () => Map<string, Bucket>) => (what: string, seconds: number) => {
      const map = into();
      let b = map.get(what);
      if (!b) {
        b = new Bucket(0);
        map.set(what, b);
      }
      b.add(0, seconds * 1000, 0);
    };
    this.#stop.push(this.#o.figures.onCommand(gather(() => this.#commands)), this.#o.figures.onHttp(gather(() => this.#http)));
    this.#lag.enable();
    if (interval > 0) {
      this.#timer = setInterval(() => this.sample(), Math.max(100, interval));
      this.#timer.unref();
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const s of this.#stop) s();
    this.#stop.length = 0;
    this.#lag.disable();
  }

  /** Writes one sample of every figure at the clock's now; returns the points written. */
  sample(): number {
    const { figures, stores, nodeId, clock } = this.#o;
    const node = { node: nodeId };
    const points: SystemPoint[] = [];
    const metered = this.#metered();
    const next = new Map<string, number>();
    this.#counters(next, new Set(metered.map(([tenant]) => tenant)), (key, value, series, labels) => {
      const before = this.#prev.get(key);
      // A counter that went back (a tenant forgotten and seen again) counts from zero.
      const delta = before === undefined || value < before ? value : value - before;
      points.push({ series, labels, value: delta });
    });
    this.#prev = next;
    // The console charts the server, not itself: its own frames leave the node-level traffic.
    const own = this.#ownTraffic();
    for (const p of points) {
      const k = OWN_TRAFFIC.findIndex(([series]) => series === p.series);
      if (k >= 0 && typeof p.value === 'number') p.value = Math.max(0, p.value - (own[k] as number));
    }
    const gauge = (series: string, value: number) => {
      if (Number.isFinite(value)) points.push({ series, labels: node, value });
    };
    gauge('sb.connections', figures.connections());
    gauge('sb.subscriptions', figures.subscriptions());
    const memory = process.memoryUsage();
    gauge('sb.heap_bytes', memory.heapUsed);
    gauge('sb.rss_bytes', memory.rss);
    if (this.#lag.count > 0) gauge('sb.event_loop_lag_ms', Math.max(0, this.#lag.percentile(99) / 1e6 - LAG_RESOLUTION_MS));
    this.#lag.reset();
    const cpu = process.cpuUsage(this.#cpu);
    const at = performance.now();
    if (at > this.#cpuAt) gauge('sb.cpu_percent', ((cpu.user + cpu.system) / 1000 / (at - this.#cpuAt)) * 100);
    this.#cpu = process.cpuUsage();
    this.#cpuAt = at;
    for (const [tenant, t] of metered) points.push({ series: 'sb.tenant.connections', labels: { node: nodeId, tenant }, value: t.connections });
    const latencies = (series: string, label: string, gathered: Map<string, Bucket>) => {
      for (const [what, bucket] of gathered) points.push({ series, labels: { node: nodeId, [label]: what }, value: bucket });
    };
    if (this.#commands.size > 0) {
      const every = new Bucket(0);
      for (const b of this.#commands.values()) every.merge(b);
      this.#commands.set(EVERY_METHOD, every);
    }
    latencies('sb.command_ms', 'method', this.#commands);
    latencies('sb.http_ms', 'route', this.#http);
    this.#commands = new Map();
    this.#http = new Map();
    const skipped = stores.writeSystem(clock.now(), points);
    if (skipped > 0 && !this.#warned) {
      this.#warned = true;
      this.#o.logger.warn({ skipped }, 'some of the server figures were not written: the system scope holds its most label sets');
    }
    return points.length - skipped;
  }

  /** The tenants metered: those with the most connections on this node, at most MAX_METERED_TENANTS. */
  #metered(): Array<[string, TenantFigures]> {
    const all = [...this.#o.figures.tenants()];
    if (all.length <= MAX_METERED_TENANTS) return all;
    all.sort((a, b) => b[1].connections - a[1].connections || (a[0] < b[0] ? -1 : 1));
    return all.slice(0, MAX_METERED_TENANTS);
  }

  /** Records every cumulative counter in `into` by its key, and visits those of the node and of the `metered` tenants. */
  #counters(
    into: Map<string, number>,
    metered: ReadonlySet<string>,
    visit: (key: string, value: number, series: string, labels: Readonly<Record<string, string>>) => void,
  ): Map<string, number> {
    const { figures, nodeId } = this.#o;
    const { stats } = figures;
    const one = (series: string, labels: Readonly<Record<string, string>>, value: number, labelKey: string, shown = true) => {
      const key = `${series}\0${labelKey}`;
      into.set(key, value);
      if (shown) visit(key, value, series, labels);
    };
    const node = { node: nodeId };
    one('sb.messages_in', node, stats.messagesIn, '');
    one('sb.messages_out', node, stats.messagesOut, '');
    one('sb.bytes_in', node, stats.bytesIn, '');
    one('sb.bytes_out', node, stats.bytesOut, '');
    one('sb.publications', node, stats.publications, '');
    for (const [code, n] of stats.errors) one('sb.errors', { node: nodeId, code: String(code) }, n, String(code));
    for (const [reason, n] of stats.drops) one('sb.drops', { node: nodeId, reason }, n, reason);
    for (const [transport, n] of this.#o.ingest.points()) one('sb.ingest_points', { node: nodeId, transport }, n, transport);
    // Every tenant's counters are remembered, so one that comes back among the metered counts from its last value.
    for (const [tenant, t] of figures.tenants()) {
      const labels = { node: nodeId, tenant };
      const shown = metered.has(tenant);
      one('sb.tenant.messages_in', labels, t.messagesIn, tenant, shown);
      one('sb.tenant.messages_out', labels, t.messagesOut, tenant, shown);
      one('sb.tenant.errors', labels, t.errors, tenant, shown);
    }
    return into;
  }
}
