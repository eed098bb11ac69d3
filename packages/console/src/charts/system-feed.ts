import type { MetricStat, MetricSubscribeParams, SwitchboardClient, SwitchboardError } from '@switchboard/client';
import { api, type Session } from '../api';
import { type FeedSubscription, PolledSubscription } from './polled-subscription';

/** The overview's charts, in the order shown: each is `data-testid="chart-<metric>"`. */
export const OVERVIEW_CHARTS = [
  { metric: 'connections', title: 'Connections', unit: 'connections' },
  { metric: 'subscriptions', title: 'Subscriptions', unit: 'subscriptions' },
  { metric: 'messages', title: 'Messages in / out per second', unit: 'messages/s' },
  { metric: 'bytes', title: 'Bytes in / out per second', unit: 'bytes/s' },
  { metric: 'errors', title: 'Errors per second, by code', unit: 'errors/s' },
  { metric: 'latency', title: 'Command latency p50 / p95 / p99 (every command)', unit: 'ms' },
  { metric: 'event-loop-lag', title: 'Event-loop lag', unit: 'ms' },
  { metric: 'memory', title: 'Memory (heap used, resident)', unit: 'bytes' },
] as const;

export type OverviewMetric = (typeof OVERVIEW_CHARTS)[number]['metric'];

/** One line of a chart: a statistic of one series of one of the feed's subscriptions. */
export interface Line {
  readonly label: string;
  /** The subscription it reads (a key of the feed's subscriptions). */
  readonly sub: string;
  /** The series' position in that subscription. */
  readonly series: number;
  readonly stat: MetricStat;
  /** What an empty bucket means: 0 for rates (nothing happened), no value for levels and percentiles. */
  readonly emptyIsZero: boolean;
}

export type FeedState = { phase: 'connecting' } | { phase: 'live' } | { phase: 'failed'; error: string };

/** One subscription the feed holds: its key, its parameters (the grant added at subscribe) and the lines it feeds. */
interface Plan {
  key: string;
  params: Omit<MetricSubscribeParams, 'scope' | 'grant'>;
  lines: Array<{ chart: OverviewMetric } & Line>;
}

interface SystemSeriesList {
  series: Array<{ name: string; labelSets?: Array<Record<string, string>> }>;
}

const WINDOW = '1m';
const WINDOW_MS = 60_000;
/** `metrics.maxSubscriptions` by default: the subscriptions one connection may hold. */
const MAX_SUBSCRIPTIONS = 16;
/** Subscriptions per node: levels, rates, command latency. */
const PER_NODE = 3;
/** How often the nodes and error codes that report are read again. */
const DISCOVER_MS = 10_000;

const short = (node: string) => node.slice(0, 8);

/**
 * The server's own figures for the overview's charts, over the console's SDK connection: a
 * grant from `POST /metrics/system/grants` (renewed at three quarters of its life, so a
 * resubscribe after a reconnect always has a valid one; a subscription refused for an
 * expired grant is made again with a fresh one), the nodes and error codes that report from
 * `GET /metrics/series?scope=system`, and per node three subscriptions (levels, rates,
 * command latency) plus one per error code while the connection's 16 allow. Charts read the
 * SDK's views of the subscriptions and hear every frame; nothing here renders. Without a
 * client (a read-only key) each subscription is a `PolledSubscription` of the query route.
 */
export class SystemFeed {
  readonly #session: Session;
  /** The console's SDK connection; null for a read-only key, whose charts read the query route instead. */
  readonly #client: SwitchboardClient | null;
  readonly #subs = new Map<string, FeedSubscription>();
  readonly #plans = new Map<string, Plan>();
  readonly #frameListeners = new Set<() => void>();
  readonly #shapeListeners = new Set<() => void>();
  #grant: Promise<string> | null = null;
  /** The grant held once minted (what a refused subscription is compared with). */
  #grantValue: string | null = null;
  #grantTimer: ReturnType<typeof setTimeout> | undefined;
  #discoverTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #state: FeedState = { phase: 'connecting' };
  #lines = new Map<OverviewMetric, Line[]>();
  /** Error codes that report but have no subscription (the connection's limit). */
  hiddenCodes = 0;
  /** Nodes that report but have no lines (three subscriptions each: at most 5 nodes fit in 16). */
  hiddenNodes = 0;
  /** Refusals of a resubscribe in a row (an expired grant is renewed once per refusal; a third in a row stops it). */
  #refusals = 0;

  constructor(session: Session, client: SwitchboardClient | null) {
    this.#session = session;
    this.#client = client;
  }

  get state(): FeedState {
    return this.#state;
  }

  /** The lines of a chart now (a new array when the nodes or codes that report changed). */
  lines(chart: OverviewMetric): readonly Line[] {
    return this.#lines.get(chart) ?? [];
  }

  /** The SDK's view of a subscription (null before its backfill). */
  view(sub: string): FeedSubscription['columns'] | null {
    const s = this.#subs.get(sub);
    return s?.result ? s.columns : null;
  }

  /** The newest bucket start any subscription holds (the server's clock; the levels get a point every second). */
  newest(): number {
    let end = Number.NEGATIVE_INFINITY;
    for (const sub of this.#subs.values()) {
      if (!sub.result) continue;
      for (const s of sub.columns.series) if (s.t.length > 0) end = Math.max(end, s.t[s.t.length - 1] as number);
    }
    return end;
  }

  /** Hear every applied frame (redraw); returns the removal. */
  onFrame(listener: () => void): () => void {
    this.#frameListeners.add(listener);
    return () => this.#frameListeners.delete(listener);
  }

  /** Hear changes of the lines or of the state (re-render); returns the removal. */
  onShape(listener: () => void): () => void {
    this.#shapeListeners.add(listener);
    return () => this.#shapeListeners.delete(listener);
  }

  start(): void {
    void this.#discover();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#grantTimer);
    clearTimeout(this.#discoverTimer);
    for (const sub of this.#subs.values()) void sub.unsubscribe();
    this.#subs.clear();
    this.#frameListeners.clear();
    this.#shapeListeners.clear();
  }

  #setState(state: FeedState): void {
    this.#state = state;
    for (const l of [...this.#shapeListeners]) l();
  }

  /** A valid grant: the one held, or a new one (renewed by itself before it expires). */
  #currentGrant(): Promise<string> {
    if (this.#grant === null) {
      const minted = api<{ grant: string; expiresAt: number }>(this.#session.key, '/metrics/system/grants', { method: 'POST', body: {} });
      this.#grant = minted.then((g) => g.grant);
      minted.then(
        (g) => {
          this.#grantValue = g.grant;
          clearTimeout(this.#grantTimer);
          if (this.#closed) return;
          const life = Math.max(1000, g.expiresAt - Date.now());
          this.#grantTimer = setTimeout(() => this.#renewGrant(), Math.floor(life * 0.75));
        },
        () => {
          this.#grant = null;
        },
      );
    }
    return this.#grant;
  }

  #renewGrant(): void {
    this.#grant = null;
    this.#grantValue = null;
    void this.#currentGrant().catch(() => {});
  }

  async #discover(): Promise<void> {
    if (this.#closed) return;
    let again = DISCOVER_MS;
    try {
      const [list] = await Promise.all([
        api<SystemSeriesList>(this.#session.key, '/metrics/series?scope=system'),
        this.#client === null ? null : this.#currentGrant(),
      ]);
      if (this.#closed) return;
      const sets = (name: string) => list.series.find((s) => s.name === name)?.labelSets ?? [];
      const reporting = [...new Set(sets('sb.connections').map((l) => l['node'] as string))].sort();
      const nodes = reporting.slice(0, Math.floor(MAX_SUBSCRIPTIONS / PER_NODE));
      this.hiddenNodes = reporting.length - nodes.length;
      // Before a node's first sample nothing reports yet: look again in a second.
      if (nodes.length === 0) again = 1000;
      const codes = sets('sb.errors')
        .filter((l) => nodes.includes(l['node'] as string))
        .map((l) => ({ node: l['node'] as string, code: l['code'] as string }))
        .sort((a, b) => Number(a.code) - Number(b.code) || a.node.localeCompare(b.node));
      await this.#plan(nodes, codes);
    } catch (err) {
      this.#setState({ phase: 'failed', error: (err as Error).message });
      again = DISCOVER_MS;
    }
    if (!this.#closed) this.#discoverTimer = setTimeout(() => void this.#discover(), again);
  }

  /** The subscriptions for these nodes and codes: new ones made, gone ones closed, the charts' lines rebuilt. */
  async #plan(nodes: string[], codes: Array<{ node: string; code: string }>): Promise<void> {
    const several = nodes.length > 1;
    const name = (label: string, node: string) => (several ? `${label} · ${short(node)}` : label);
    const plans: Plan[] = [];
    for (const node of nodes) {
      const labels = { node };
      plans.push({
        key: `levels:${node}`,
        params: { series: ['sb.connections', 'sb.subscriptions', 'sb.event_loop_lag_ms', 'sb.heap_bytes', 'sb.rss_bytes'], labels, stats: ['last'] },
        lines: [
          { chart: 'connections', label: name('connections', node), sub: `levels:${node}`, series: 0, stat: 'last', emptyIsZero: false },
          { chart: 'subscriptions', label: name('subscriptions', node), sub: `levels:${node}`, series: 1, stat: 'last', emptyIsZero: false },
          { chart: 'event-loop-lag', label: name('lag p99', node), sub: `levels:${node}`, series: 2, stat: 'last', emptyIsZero: false },
          { chart: 'memory', label: name('heap used', node), sub: `levels:${node}`, series: 3, stat: 'last', emptyIsZero: false },
          { chart: 'memory', label: name('resident', node), sub: `levels:${node}`, series: 4, stat: 'last', emptyIsZero: false },
        ],
      });
      plans.push({
        key: `rates:${node}`,
        params: { series: ['sb.messages_in', 'sb.messages_out', 'sb.bytes_in', 'sb.bytes_out'], labels, stats: ['rate'] },
        lines: [
          { chart: 'messages', label: name('in', node), sub: `rates:${node}`, series: 0, stat: 'rate', emptyIsZero: true },
          { chart: 'messages', label: name('out', node), sub: `rates:${node}`, series: 1, stat: 'rate', emptyIsZero: true },
          { chart: 'bytes', label: name('in', node), sub: `rates:${node}`, series: 2, stat: 'rate', emptyIsZero: true },
          { chart: 'bytes', label: name('out', node), sub: `rates:${node}`, series: 3, stat: 'rate', emptyIsZero: true },
        ],
      });
      plans.push({
        key: `latency:${node}`,
        params: { series: ['sb.command_ms'], labels: { node, method: '*' }, stats: ['p50', 'p95', 'p99'] },
        lines: (['p50', 'p95', 'p99'] as const).map((stat) => ({
          chart: 'latency' as const,
          label: name(stat, node),
          sub: `latency:${node}`,
          series: 0,
          stat,
          emptyIsZero: false,
        })),
      });
    }
    const room = Math.max(0, MAX_SUBSCRIPTIONS - plans.length);
    for (const { node, code } of codes.slice(0, room)) {
      const key = `errors:${node}:${code}`;
      plans.push({
        key,
        params: { series: ['sb.errors'], labels: { node, code }, stats: ['rate'] },
        lines: [{ chart: 'errors', label: name(`code ${code}`, node), sub: key, series: 0, stat: 'rate', emptyIsZero: true }],
      });
    }
    this.hiddenCodes = Math.max(0, codes.length - room);

    const wanted = new Set(plans.map((p) => p.key));
    const changed = plans.some((p) => !this.#plans.has(p.key)) || [...this.#plans.keys()].some((k) => !wanted.has(k));
    for (const key of [...this.#plans.keys()]) {
      if (wanted.has(key)) continue;
      this.#plans.delete(key);
      const sub = this.#subs.get(key);
      this.#subs.delete(key);
      if (sub) void sub.unsubscribe();
    }
    for (const plan of plans) {
      if (this.#plans.has(plan.key)) continue;
      this.#plans.set(plan.key, plan);
      await this.#subscribe(plan);
    }
    if (changed) {
      const lines = new Map<OverviewMetric, Line[]>();
      for (const plan of plans) for (const { chart, ...line } of plan.lines) lines.set(chart, [...(lines.get(chart) ?? []), line]);
      this.#lines = lines;
    }
    if (changed) this.#setState({ ...this.#state });
  }

  async #subscribe(plan: Plan): Promise<void> {
    const client = this.#client;
    const grant = client === null ? null : await this.#currentGrant();
    if (this.#closed || this.#plans.get(plan.key) !== plan) return;
    const { series, labels = {}, stats = [] } = plan.params;
    const sub: FeedSubscription =
      client === null || grant === null
        ? new PolledSubscription(this.#session, { series: [series].flat(), labels, stats }, WINDOW_MS)
        : client.metrics.subscribe({ ...plan.params, scope: 'system', grant, resolution: '1s', window: WINDOW, maxRate: 10 });
    this.#subs.set(plan.key, sub);
    const frame = () => {
      if (this.#subs.get(plan.key) !== sub) return;
      this.#refusals = 0;
      // Live from the first backfill on (the console's connection is then up and counted).
      if (this.#state.phase !== 'live') this.#setState({ phase: 'live' });
      for (const l of [...this.#frameListeners]) l();
    };
    sub.on('backfill', frame);
    sub.on('update', frame);
    sub.on('error', ({ error }: { error: SwitchboardError }) => {
      if (this.#closed || this.#subs.get(plan.key) !== sub) return;
      this.#subs.delete(plan.key);
      // A resubscribe after a reconnect carried a grant that has expired meanwhile: renew it and subscribe again.
      if (error.code === 103 && ++this.#refusals < 3) {
        // Several subscriptions refused at once ask for one new grant, not one each.
        if (this.#grantValue === grant) this.#renewGrant();
        void this.#subscribe(plan);
        return;
      }
      this.#setState({ phase: 'failed', error: `${error.message} (${error.code})` });
    });
  }
}
