import type { MetricSubscribeParams } from '@switchboard/client';
import type { MetricSnapshot, MetricStream } from './metric-stream.js';
import { useRegistry } from './provider.js';
import { useSelected } from './select.js';
import { type HookResult, LOADING } from './store.js';

/** The shared stream of a query (null on the server and before the provider has a client); stable while the query's JSON is. */
export function useMetricStream(query: MetricSubscribeParams): MetricStream | null {
  const registry = useRegistry();
  return registry === null ? null : registry.metric(query);
}

/**
 * A live metric subscription (`client.metrics.subscribe`): the backfill of the window, then
 * every live frame, as columns a chart reads directly — per series `t` (bucket starts) and
 * one `Float64Array` per statistic (`NaN`: no value). The snapshot is a new object after each
 * frame and the same one in between. Hooks with the same query share one subscription; it
 * ends when the last unmounts. Needs `subscribe` on `metrics:<series>`.
 *
 * @example
 * const { data, error } = useMetric({ series: 'api.latency_ms', window: '5m', stats: ['p50', 'p95', 'p99'], maxRate: 10 });
 * const p95 = data?.series[0]?.stats.p95; // Float64Array, one value per bucket of data.series[0].t
 */
export function useMetric(query: MetricSubscribeParams): HookResult<MetricSnapshot> {
  const stream = useMetricStream(query);
  return useSelected(stream?.store ?? null, LOADING, (r) => r);
}
