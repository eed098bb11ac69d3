import type {
  MetricColumns,
  MetricFrameEvent,
  MetricSchemaSeries,
  MetricStat,
  MetricSubscribeParams,
  MetricSubscribeResult,
  MetricSubscription,
  SwitchboardClient,
  SwitchboardError,
} from '@switchboard/client';
import { type ErrorBus, offAll } from './errors.js';
import { failed, type HookResult, LOADING, loaded, Store } from './store.js';

/** One series of a `useMetric` snapshot: bucket starts and one typed array per statistic, index by index. */
export interface MetricSeriesSnapshot {
  readonly series: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly kind: MetricSchemaSeries['kind'];
  readonly unit?: string;
  /** Bucket starts (Unix ms), ascending; empty buckets are left out. */
  readonly t: Float64Array;
  /** Per statistic asked for, the value of each bucket of `t` (`NaN`: no value). */
  readonly stats: Readonly<Partial<Record<MetricStat, Float64Array>>>;
}

/** What `useMetric` returns once the backfill arrived: the window as columns, a new object after every frame. */
export interface MetricSnapshot {
  /** Bucket width, ms. */
  readonly step: number;
  /** The first bucket start of the window as of the last frame. */
  readonly from: number;
  /** The window (ms), the frame rate in effect, and whether the window was clipped to the retention. */
  readonly window: number;
  readonly rate: number;
  readonly truncated: boolean;
  /** The statistics, in the order asked for. */
  readonly columns: readonly MetricStat[];
  readonly series: readonly MetricSeriesSnapshot[];
  /** Frames applied since the subscription started (the backfill is 1). */
  readonly frames: number;
}

/** A frame as the SDK applied it, with the subscription's reply (its schema). */
export type MetricFrameListener = (event: MetricFrameEvent, result: MetricSubscribeResult) => void;

function snapshotOf(columns: MetricColumns, result: MetricSubscribeResult, frames: number): MetricSnapshot {
  return Object.freeze({
    step: columns.step,
    from: columns.from,
    window: result.window,
    rate: result.rate,
    truncated: result.truncated,
    columns: result.columns,
    frames,
    series: columns.series.map((s) => {
      const stats: Partial<Record<MetricStat, Float64Array>> = {};
      for (const c of result.columns) stats[c] = Float64Array.from(s.stats[c] ?? [], (v) => (v === null ? Number.NaN : v));
      return Object.freeze({
        series: s.series,
        labels: s.labels,
        kind: s.kind,
        ...(s.unit === undefined ? {} : { unit: s.unit }),
        t: Float64Array.from(s.t),
        stats: Object.freeze(stats),
      });
    }),
  });
}

/**
 * One `client.metrics.subscribe` shared by every hook with the same query: subscribed when
 * the first listens, unsubscribed a microtask after the last left (so StrictMode's remount
 * keeps it). Its store holds the window as typed-array columns; `onFrame` hears each frame
 * as it lands, for charts that append instead of re-rendering.
 */
export class MetricStream {
  readonly store: Store<HookResult<MetricSnapshot>>;
  readonly #frames = new Set<MetricFrameListener>();
  #sub: MetricSubscription | null = null;
  #offs: Array<() => void> = [];
  #count = 0;

  readonly #client: SwitchboardClient;
  readonly #errors: ErrorBus;

  constructor(
    client: SwitchboardClient,
    readonly query: MetricSubscribeParams,
    errors: ErrorBus,
  ) {
    this.#client = client;
    this.#errors = errors;
    this.store = new Store<HookResult<MetricSnapshot>>(LOADING, { start: () => this.#start(), stop: () => this.#stop() });
  }

  /** The subscription's last reply (null before the first, and while stopped). */
  get result(): MetricSubscribeResult | null {
    return this.#sub?.result ?? null;
  }

  /** The SDK's view of the window (null before the first reply, and while stopped). */
  get columns(): MetricColumns | null {
    return this.#sub?.result ? this.#sub.columns : null;
  }

  /** Hear every applied frame (backfills and updates) while the stream runs; returns the removal. */
  onFrame(listener: MetricFrameListener): () => void {
    this.#frames.add(listener);
    return () => this.#frames.delete(listener);
  }

  #start(): void {
    const sub = this.#client.metrics.subscribe(this.query);
    this.#sub = sub;
    this.#count = 0;
    const applied = (event: MetricFrameEvent) => {
      const result = sub.result;
      if (this.#sub !== sub || result === null) return;
      this.store.set(loaded(snapshotOf(event.columns, result, ++this.#count)));
      for (const listener of [...this.#frames]) listener(event, result);
    };
    this.#offs = [
      sub.on('backfill', applied),
      sub.on('update', applied),
      sub.on('error', ({ error }: { error: SwitchboardError }) => {
        if (this.#sub !== sub) return;
        this.#errors.emit(error);
        this.store.set(failed(error));
      }),
    ];
  }

  #stop(): void {
    offAll(this.#offs);
    const sub = this.#sub;
    this.#sub = null;
    if (sub !== null) void sub.unsubscribe();
    this.store.set(LOADING);
  }
}
