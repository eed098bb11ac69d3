/**
 * What a side-by-side comparison (bench/compare.ts, bench/cluster.ts) runs against: the
 * three servers, their channel / room names and the payload their publisher sends.
 */

/** The publication payload of a comparison: publisher timestamp (µs, CLOCK_MONOTONIC), sequence number, warm-up flag, padding (BODY). */
export interface ComparePayload {
  t: number;
  seq: number;
  w?: 1;
  body: string;
}

/** Channel (Switchboard) / room (Socket.IO) / channel (raw ws) used by the fan-out scenario. */
export const CHANNELS = { switchboard: 'project:bench', socketio: 'bench', ws: 'bench' } as const;

export type ServerKind = keyof typeof CHANNELS;
export const SERVER_KINDS: readonly ServerKind[] = ['switchboard', 'socketio', 'ws'];
export const SERVER_LABELS: Record<ServerKind, string> = { switchboard: 'Switchboard', socketio: 'Socket.IO 4.8.1', ws: 'raw ws' };

/** Tenant used for bench tokens. */
export const TENANT = 'bench';

export interface LatencyMs {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Exact percentiles of an unsorted array of µs values, in ms (the comparisons keep every latency). */
export function latencySummary(values: Float64Array): LatencyMs {
  if (values.length === 0) return { p50: NaN, p95: NaN, p99: NaN, max: NaN, mean: NaN };
  const sorted = values.slice().sort();
  const at = (q: number) => (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number) / 1000;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: (sorted[sorted.length - 1] as number) / 1000, mean: sum / sorted.length / 1000 };
}
