import type { FeatureHost } from './feature-module.js';
import type { PointOptions } from './metric-push.js';
import { type MetricSubscribeParams, type MetricSubscription, metricSubscriptions } from './metric-subscriptions.js';
import type { Metrics } from './metrics.js';

/**
 * `client.metrics`: metric streams (docs/metrics.md) — subscribe a dashboard to series, and
 * push points into them, batched and acknowledged. `push`, `flush` and `pending` are the
 * metrics module's (`metrics(client)` from `@switchboard/client/metrics` gives the same
 * instance, and takes options when called before the first push); the core loads it on the
 * first push.
 */
export interface ClientMetrics {
  /**
   * Follow series: a backfill of the window, then live buckets at most `maxRate` a second.
   * @example const sub = client.metrics.subscribe({ series: 'api.latency_ms', window: '5m' });
   */
  subscribe(params: MetricSubscribeParams): MetricSubscription;
  /**
   * Add one point to a series (batched: one `metrics.push` per `flushInterval`); resolves when
   * the server accepted its batch, rejects with the batch's SwitchboardError.
   * @example await client.metrics.push('web.lcp_ms', 812, { labels: { page: '/pricing' } });
   */
  push(series: string, value: number, options?: PointOptions): Promise<void>;
  /**
   * Send the points waiting now; resolves once those batches were answered.
   * @example window.addEventListener('pagehide', () => void client.metrics.flush());
   */
  flush(): Promise<void>;
  /** Points pushed and not answered yet. */
  readonly pending: number;
}

/**
 * The `metrics` member of a client. The batcher behind `push` is the metrics module
 * (`@switchboard/client/metrics`), loaded by a dynamic import on the first push or flush, so
 * the core build does not carry it; pushes made while it loads keep their order.
 */
export function clientMetrics(client: FeatureHost): ClientMetrics {
  let loading: Promise<Metrics> | null = null;
  let loaded: Metrics | null = null;
  /** Pushes waiting for the module to load. */
  let waiting = 0;
  const load = (): Promise<Metrics> => {
    loading ??= import('./metrics.js').then((m) => {
      loaded = client.use(m.metricsModule());
      return loaded;
    });
    return loading;
  };
  return {
    subscribe: (params) => client.use(metricSubscriptions).subscribe(params),
    push(series, value, options) {
      if (loaded !== null && waiting === 0) return loaded.push(series, value, options);
      waiting++;
      return load().then((m) => {
        waiting--;
        return m.push(series, value, options);
      });
    },
    flush() {
      if (loaded !== null && waiting === 0) return loaded.flush();
      return loading === null ? Promise.resolve() : load().then((m) => m.flush());
    },
    get pending() {
      return waiting + (loaded?.pending ?? 0);
    },
  };
}
