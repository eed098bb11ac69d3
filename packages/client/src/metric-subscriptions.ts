import type { MetricFrame, MetricSchemaSeries, MetricStat, MetricSubscribeParams, MetricSubscribeResult } from '@switchboard/protocol';
import { Emitter } from './emitter.js';
import { SwitchboardError } from './errors.js';
import type { ClientModule, FeatureHost } from './feature-module.js';

export type { MetricFrame, MetricSchemaSeries, MetricStat, MetricSubscribeParams, MetricSubscribeResult } from '@switchboard/protocol';

/**
 * Dashboard subscriptions to metric series (server side and frame format: docs/metrics.md):
 * a backfill of the window, then live bucket updates at most `maxRate` times a second, kept
 * here as chart-ready columns. After a reconnect the subscription is made again and its new
 * backfill replaces the window.
 */

/** The buckets of one series as a chart reads them: `t[j]` is a bucket's start (ms), `stats[s][j]` its value. */
export interface MetricSeriesColumns extends MetricSchemaSeries {
  t: number[];
  stats: Partial<Record<MetricStat, Array<number | null>>>;
}

/** The view of a subscription: its non-empty buckets within the window, per series, by ascending start. */
export interface MetricColumns {
  /** Bucket width, ms. */
  step: number;
  /** The first bucket start of the window as of the last frame. */
  from: number;
  series: MetricSeriesColumns[];
}

/** A frame applied to the view. */
export interface MetricFrameEvent {
  frame: MetricFrame;
  columns: MetricColumns;
}

export interface MetricSubscriptionEvents {
  /** The server answered a (re)subscribe: the effective rate, window and schema. */
  subscribed: MetricSubscribeResult;
  /** A backfill replaced the view (after every subscribe and resubscribe). */
  backfill: MetricFrameEvent;
  /** Live buckets were applied (`frame.skipped`: updates the server skipped while the connection was congested). */
  update: MetricFrameEvent;
  /** The subscription was refused and is over. */
  error: { error: SwitchboardError };
}

class MetricEmitter extends Emitter<MetricSubscriptionEvents> {
  fire<K extends keyof MetricSubscriptionEvents>(event: K, payload: MetricSubscriptionEvents[K]): void {
    this.emit(event, payload);
  }
}

export type MetricSubscriptionState = 'subscribing' | 'subscribed' | 'unsubscribed';

interface Settle {
  resolve(r: MetricSubscribeResult): void;
  reject(e: SwitchboardError): void;
}

/** Frames kept for subscriptions whose reply is still on its way (a backfill follows its reply in one message). */
const EARLY_FRAMES = 64;

/**
 * One metric subscription. `columns` is always the current view; `backfill` and `update`
 * events say when it changed.
 *
 * @example
 * const sub = client.metrics.subscribe({ series: 'api.latency_ms', window: '5m', stats: ['avg', 'p95'] });
 * sub.on('update', ({ columns }) => chart.setData(columns.series[0].t, columns.series[0].stats.p95));
 * const { rate, truncated } = await sub.ready;
 */
export class MetricSubscription {
  readonly #owner: MetricSubscriptions;
  readonly #events = new MetricEmitter();
  #state: MetricSubscriptionState = 'subscribing';
  #result: MetricSubscribeResult | null = null;
  #columns: MetricColumns = { step: 0, from: 0, series: [] };
  #gen = 0;
  /** Settles with the first reply (or the refusal). */
  readonly ready: Promise<MetricSubscribeResult>;
  readonly #settle: Settle;

  constructor(
    owner: MetricSubscriptions,
    readonly params: MetricSubscribeParams,
  ) {
    this.#owner = owner;
    let settle: Settle | undefined;
    this.ready = new Promise<MetricSubscribeResult>((resolve, reject) => {
      settle = { resolve, reject };
    });
    this.ready.catch(() => {});
    this.#settle = settle as Settle;
  }

  get state(): MetricSubscriptionState {
    return this.#state;
  }

  /** The server's id of the current subscription (a new one after each reconnect), or null. */
  get id(): string | null {
    return this.#result?.id ?? null;
  }

  /** The last reply: effective rate (`rateClamped` when the asked one was changed), window, `truncated`, columns and series. */
  get result(): MetricSubscribeResult | null {
    return this.#result;
  }

  /** The current view: per series, bucket starts and one array per statistic. */
  get columns(): MetricColumns {
    return this.#columns;
  }

  /**
   * Follow the subscription.
   *
   * @example
   * sub.on('backfill', ({ columns }) => chart.reset(columns));
   */
  on<K extends keyof MetricSubscriptionEvents>(event: K, listener: (payload: MetricSubscriptionEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /**
   * Stop receiving frames; the view keeps what it holds.
   *
   * @example
   * await sub.unsubscribe();
   */
  async unsubscribe(): Promise<void> {
    if (this.#state === 'unsubscribed') return;
    this.#state = 'unsubscribed';
    this.#gen++;
    const id = this.id;
    this.#owner.forget(this);
    if (id !== null && this.#owner.connected) await this.#owner.host.call('metrics.unsubscribe', { id }).catch(() => {});
  }

  /** (Re)subscribe on the current connection. */
  async start(): Promise<void> {
    if (this.#state === 'unsubscribed') return;
    const gen = ++this.#gen;
    this.#state = 'subscribing';
    let result: MetricSubscribeResult;
    try {
      result = await this.#owner.host.call<MetricSubscribeResult>('metrics.subscribe', this.params);
    } catch (err) {
      if (gen !== this.#gen) return;
      const error = err instanceof SwitchboardError ? err : new SwitchboardError(100, String(err), true);
      if (error.temporary) return; // the next connection tries again
      this.#state = 'unsubscribed';
      this.#owner.forget(this);
      this.#settle.reject(error);
      this.#events.fire('error', { error });
      return;
    }
    if (gen !== this.#gen) {
      // Unsubscribed or started again meanwhile: this subscription is nobody's.
      if (this.#owner.connected) void this.#owner.host.call('metrics.unsubscribe', { id: result.id }).catch(() => {});
      return;
    }
    this.#result = result;
    this.#state = 'subscribed';
    this.#settle.resolve(result);
    this.#events.fire('subscribed', result);
    for (const frame of this.#owner.claimEarly(result.id)) this.apply(frame);
  }

  /** A frame of this subscription. */
  apply(frame: MetricFrame): void {
    const result = this.#result;
    if (!result || frame.id !== result.id) return;
    if (frame.kind === 'backfill') {
      this.#columns = {
        step: frame.step,
        from: frame.from,
        series: result.series.map((s) => ({ ...s, t: [], stats: Object.fromEntries(result.columns.map((c) => [c, []])) })),
      };
    }
    applyFrame(this.#columns, result.columns, frame);
    this.#events.fire(frame.kind === 'backfill' ? 'backfill' : 'update', { frame, columns: this.#columns });
  }
}

/**
 * Puts a frame's buckets into a view: each bucket replaces the one of its start (or is
 * inserted in order), then buckets before the frame's `from` leave the view.
 */
export function applyFrame(view: MetricColumns, columns: readonly MetricStat[], frame: MetricFrame): void {
  view.step = frame.step;
  view.from = frame.from;
  for (const part of frame.series) {
    const s = view.series[part.i];
    if (!s) continue;
    part.t.forEach((offset, j) => {
      const start = frame.base + offset * frame.step;
      const at = lowerBound(s.t, start);
      const replace = s.t[at] === start;
      if (!replace) s.t.splice(at, 0, start);
      columns.forEach((c, ci) => {
        s.stats[c] ??= [];
        const col = s.stats[c];
        const value = part.v[ci]?.[j] ?? null;
        if (replace) col[at] = value;
        else col.splice(at, 0, value);
      });
    });
  }
  for (const s of view.series) {
    const drop = lowerBound(s.t, frame.from);
    if (drop === 0) continue;
    s.t.splice(0, drop);
    for (const c of columns) s.stats[c]?.splice(0, drop);
  }
}

function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((xs[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The metric subscriptions of one client (`client.metrics.subscribe`). */
export class MetricSubscriptions {
  readonly #subs = new Set<MetricSubscription>();
  readonly #early: MetricFrame[] = [];

  constructor(readonly host: FeatureHost) {
    host.onPush('metrics', (event, data) => {
      if (event === 'frame' && typeof data === 'object' && data !== null) this.#frame(data as MetricFrame);
    });
    host.on('connected', () => {
      this.#early.length = 0;
      for (const sub of this.#subs) void sub.start();
    });
  }

  get connected(): boolean {
    return this.host.session !== null;
  }

  /**
   * Subscribe a dashboard to one or several series: a backfill of the window, then live
   * buckets. Needs the `subscribe` capability on `metrics:<series>` for each series.
   *
   * @example
   * const sub = client.metrics.subscribe({ series: ['api.latency_ms'], labels: { route: '/login' }, resolution: '1s', window: '5m', stats: ['avg', 'p95', 'max'], maxRate: 10 });
   * sub.on('update', ({ columns }) => draw(columns));
   */
  subscribe(params: MetricSubscribeParams): MetricSubscription {
    const sub = new MetricSubscription(this, params);
    this.#subs.add(sub);
    if (this.connected) void sub.start();
    return sub;
  }

  /** @internal */
  forget(sub: MetricSubscription): void {
    this.#subs.delete(sub);
  }

  /** @internal Frames that arrived before their subscription's reply was handled. */
  claimEarly(id: string): MetricFrame[] {
    const mine = this.#early.filter((f) => f.id === id);
    if (mine.length > 0) this.#early.splice(0, this.#early.length, ...this.#early.filter((f) => f.id !== id));
    return mine;
  }

  #frame(frame: MetricFrame): void {
    for (const sub of this.#subs) {
      if (sub.id === frame.id) {
        sub.apply(frame);
        return;
      }
    }
    this.#early.push(frame);
    if (this.#early.length > EARLY_FRAMES) this.#early.shift();
  }
}

/** The module behind `client.metrics`: one instance per client. */
export const metricSubscriptions: ClientModule<MetricSubscriptions> = { key: 'metrics:subscriptions', create: (host) => new MetricSubscriptions(host) };
