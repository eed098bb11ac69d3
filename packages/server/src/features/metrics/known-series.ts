import type { MetricStores, PointInput } from './metric-stores.js';
import type { PersistedMinutes } from './persist.js';
import type { SeriesRegistry } from './series-registry.js';

/** The series tenants declare over HTTP and the stored 1-minute buckets, once the feature started. */
export interface StoredMetrics {
  registry: SeriesRegistry;
  persisted: PersistedMinutes;
}

/** Loads the tenant's own declarations of the series named that this node does not know yet. */
export async function known(s: MetricStores, stored: (() => StoredMetrics) | undefined, tenant: string, names: Iterable<string>): Promise<void> {
  if (!stored) return;
  const seen = new Set<string>();
  const missing: string[] = [];
  for (const name of names) {
    if (seen.has(name)) continue;
    seen.add(name);
    if (!s.declaration(name, tenant)) missing.push(name);
  }
  if (missing.length > 0) await stored().registry.ensure(tenant, missing);
}

/** The series of a batch's points, in order (repeats included). */
export function* seriesOf(points: readonly PointInput[]): Iterable<string> {
  for (const p of points) yield p.series;
}
