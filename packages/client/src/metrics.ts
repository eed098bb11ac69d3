import type { ClientModule, FeatureHost } from './feature-module.js';
import { MetricBatcher, type MetricPushOptions, type PointOptions } from './metric-push.js';

export type { MetricPushOptions, PointOptions } from './metric-push.js';

/**
 * Metric streams from the client: points pushed into declared series over the socket, as
 * `client.metrics.push` (in the client core) or `metrics(client).push` (this entry point,
 * which also takes options); both are one batcher per client. Server side: docs/metrics.md.
 */

/** Options of the metrics module; they apply when `metrics(client, options)` first makes it. */
export type MetricsOptions = MetricPushOptions;

/** What the metrics module needs from the client. */
export type MetricsHost = Pick<FeatureHost, 'call' | 'on' | 'session'>;

/**
 * The metrics module of a client (one per client; `options` apply on the first call only).
 *
 * @example
 * import { metrics } from '@switchboard/client/metrics';
 * await metrics(client).push('web.lcp_ms', 812, { labels: { page: '/pricing' } });
 */
export function metrics(client: FeatureHost, options: MetricsOptions = {}): Metrics {
  return client.use(metricsModule(options));
}

/**
 * The module behind `metrics(client)` and `client.metrics.push`: one instance per client
 * (key `metrics`), so both push through one batcher; `options` apply when it is made.
 */
export function metricsModule(options: MetricsOptions = {}): ClientModule<Metrics> {
  return { key: 'metrics', create: (host) => new Metrics(host, options) };
}

/**
 * Points into declared metric series, batched: pushes of one short window (`flushInterval`,
 * 50 ms by default) go out as one `metrics.push` command, and each push settles with its
 * batch's answer. The token needs the `ingest` capability on `metrics:<series>`.
 *
 * @example
 * const m = metrics(client);
 * m.push('web.fps', 58, { labels: { page: '/editor' } }).catch((err) => report(err.code, err.message));
 */
export class Metrics {
  readonly #push: MetricBatcher;

  constructor(host: MetricsHost, options: MetricsOptions = {}) {
    this.#push = new MetricBatcher(host, options);
  }

  /**
   * Add one point to a series: `value` a finite number, `labels` only keys the series declares,
   * `ts` integer ms since the epoch (default: the server's clock when the batch arrives).
   * Resolves once the server accepted the batch that carried it; rejects with the batch's
   * SwitchboardError — a refused batch rejects every push in it, and nothing of it was
   * written (`err.data.problems` lists the first 100 problems by index in the batch; 145 is
   * temporary, retry after `err.retryAfter` ms). A value that is not a finite number (135),
   * a bad `ts` (136) or a label value that is not a string (107) rejects at once without
   * joining a batch. While the client is not connected points wait (with those in flight at
   * most `maxPending`, else 23 at once) and are sent after the next `connected`; a batch in
   * flight when the connection drops rejects with 21 (temporary): the server may or may not
   * have written it.
   *
   * @example
   * await metrics(client).push('web.lcp_ms', 812, { labels: { page: '/pricing' }, ts: Date.now() });
   */
  push(series: string, value: number, options?: PointOptions): Promise<void> {
    return this.#push.push(series, value, options);
  }

  /**
   * Send the points waiting now instead of at the end of the window (nothing while not
   * connected); resolves once those batches were answered, accepted or not.
   *
   * @example
   * window.addEventListener('pagehide', () => void metrics(client).flush());
   */
  flush(): Promise<void> {
    return this.#push.flush();
  }

  /** Points pushed and not answered yet: waiting for their batch, or in flight. */
  get pending(): number {
    return this.#push.pending;
  }
}
