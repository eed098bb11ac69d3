import { MetricChart } from '@switchboard/react/charts';
import type { ReactNode } from 'react';
import { LATENCY, REQUESTS } from './metric-queries';

/**
 * The live load: two `MetricChart`s over the server's demo generator (requests per second,
 * latency p50 / p95 / p99, every route together, the last minute at 1 s), each with its table
 * view. Frames go to uPlot outside React; the page generates nothing.
 */
export default function MetricCharts(): ReactNode {
  return (
    <div className="demo-charts">
      <MetricChart name="demo-metric-requests" title="Requests per second" query={REQUESTS} height={160} className="demo-chart" />
      <MetricChart name="demo-metric-latency" title="Latency (ms): p50, p95, p99" query={LATENCY} height={160} className="demo-chart" />
    </div>
  );
}
