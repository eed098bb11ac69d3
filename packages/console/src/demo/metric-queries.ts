import type { MetricSubscribeParams } from '@switchboard/client';

/**
 * The server's built-in demo generator writes these series of tenant `demo` while the demo is
 * on (docs/console.md). The charts and the shared dashboard ask the same queries, so they
 * share one subscription each. The empty label set is every route together.
 */
export const REQUESTS: MetricSubscribeParams = { series: 'demo.requests', window: '1m', stats: ['rate'], maxRate: 4 };
export const LATENCY: MetricSubscribeParams = { series: 'demo.latency_ms', window: '1m', stats: ['p50', 'p95', 'p99'], maxRate: 4 };
