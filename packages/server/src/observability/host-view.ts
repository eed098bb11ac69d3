import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** One process's part of the host view: its readiness and, when asked, its registry as JSON. */
export interface ProcessReport {
  /** The `worker` label: the worker's index, or `primary`. */
  worker: string;
  ready: boolean;
  /** Each dependency's state ('ok' or what is wrong). */
  checks: Record<string, string>;
  metrics?: MetricsJson;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
}

/**
 * What any worker of `serve --workers N` answers for the whole host: `/metrics` with every
 * process's series under a `worker` label, `/readyz` ready only when every worker and the
 * host are.
 */
export interface HostView {
  metrics(): Promise<string>;
  readiness(): Promise<Readiness>;
}

/**
 * Every process's series in one exposition, each with its `worker` label. prom-client's
 * `AggregatorRegistry.aggregate` merges the registries by name; the label keeps each
 * process's series apart, so nothing is summed (every metric is merged with `sum` over series
 * of one process only, instead of its own aggregator, which could drop per-process values).
 */
export function mergeMetrics(reports: readonly ProcessReport[]): string | Promise<string> {
  const labelled = reports.map(({ worker, metrics = [] }) =>
    metrics.map((m) => ({ ...m, aggregator: 'sum' as const, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })) })),
  );
  return AggregatorRegistry.aggregate(labelled).metrics();
}

/** Ready when every expected process answered ready; each one's state under `worker <label>`. */
export function hostReadiness(expected: readonly string[], reports: readonly ProcessReport[]): Readiness {
  const checks: Record<string, string> = {};
  for (const worker of expected) {
    const report = reports.find((r) => r.worker === worker);
    const key = worker === 'primary' ? 'host' : `worker ${worker}`;
    if (!report) checks[key] = 'no answer';
    else if (report.ready) checks[key] = 'ok';
    else {
      const wrong = Object.entries(report.checks).filter(([, state]) => state !== 'ok');
      checks[key] = wrong.length > 0 ? wrong.map(([name, state]) => `${name}: ${state}`).join('; ') : 'draining';
    }
  }
  return { ready: Object.values(checks).every((v) => v === 'ok'), checks };
}
