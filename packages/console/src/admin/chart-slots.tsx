import type { ReactNode } from 'react';

/**
 * Where the overview's live charts go. Each metric gets a `chart-<metric>` element once the
 * charts (`@switchboard/react/charts` MetricChart over the server's own metric series) land;
 * until then the slots say what they will show, and no element claims a `chart-` test id.
 */
export const CHART_METRICS = [
  { metric: 'connections', title: 'Connections' },
  { metric: 'subscriptions', title: 'Subscriptions' },
  { metric: 'messages', title: 'Messages in / out per second' },
  { metric: 'bytes', title: 'Bytes in / out per second' },
  { metric: 'errors', title: 'Errors by code' },
  { metric: 'latency', title: 'Command latency p50 / p95 / p99' },
  { metric: 'event-loop-lag', title: 'Event-loop lag' },
  { metric: 'memory', title: 'Memory' },
] as const;

export function ChartSlots(): ReactNode {
  return (
    <section aria-labelledby="charts-heading">
      <h2 id="charts-heading">Charts</h2>
      <ul className="slots">
        {CHART_METRICS.map((c) => (
          <li key={c.metric} data-slot={`chart-${c.metric}`}>
            {c.title}: <span className="muted">chart coming</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
