import type { MetricStat, MetricSubscribeParams, MetricSubscribeResult } from '@switchboard/client';
import { createElement as h, type ReactNode, useEffect, useRef, useState } from 'react';
import { useSelected } from '../select.js';
import { type HookResult, LOADING } from '../store.js';
import { useMetricStream } from '../use-metric.js';
import { MetricTable } from './metric-table.js';
import { MetricWindow } from './metric-window.js';
import { canDraw, TimeChart } from './time-chart.js';

/** Props of `MetricChart`. */
export interface MetricChartProps {
  /** The subscription (`useMetric`'s query): series, labels, resolution, window, stats, maxRate. */
  query: MetricSubscribeParams;
  /** The statistics to draw, one line each per series (default: every column of the subscription). */
  stats?: readonly MetricStat[];
  /** Plot height, px (default 200). */
  height?: number;
  /** Names the chart: `data-testid="chart-<name>"` on the root, `chart-<name>-table` on its table view (default: the first series). */
  name?: string;
  /** The accessible name and table caption (default: `name`). */
  title?: string;
  /** Start with the table view (default false). */
  table?: boolean;
  /** Called after each redraw of the plot (at most once per animation frame). */
  onDraw?: () => void;
  className?: string;
}

type Shape = Pick<HookResult<unknown>, 'isLoading' | 'error'>;
const shapeOf = (r: HookResult<unknown>): Shape => ({ isLoading: r.isLoading, error: r.error });
const sameShape = (a: Shape, b: Shape) => a.isLoading === b.isLoading && a.error === b.error;

/**
 * A live chart of a metric subscription: `useMetric` and the uPlot wrapper. Frames go into
 * preallocated typed-array windows and the plot redraws at most once per animation frame;
 * React renders the chart only when it loads, fails or toggles its table view, never per
 * point. The toggle shows the same numbers as an accessible table. On the server it renders
 * an empty placeholder and opens nothing.
 *
 * @example
 * <MetricChart name="latency" title="Command latency (ms)" query={{ series: 'api.latency_ms', window: '5m', stats: ['p50', 'p95', 'p99'] }} />
 */
export function MetricChart(props: MetricChartProps): ReactNode {
  const stream = useMetricStream(props.query);
  const shape = useSelected(stream?.store ?? null, LOADING, shapeOf, sameShape);
  const [showTable, setShowTable] = useState(props.table ?? false);
  const plotRef = useRef<HTMLDivElement | null>(null);
  const onDraw = useRef(props.onDraw);
  onDraw.current = props.onDraw;
  const name = props.name ?? (Array.isArray(props.query.series) ? props.query.series[0] : props.query.series) ?? 'metric';
  const title = props.title ?? name;
  const height = props.height ?? 200;
  const statsKey = props.stats?.join() ?? '';

  // biome-ignore lint/correctness/useExhaustiveDependencies: `statsKey` stands for `props.stats`
  useEffect(() => {
    const element = plotRef.current;
    if (stream === null || element === null) return;
    const stats = props.stats;
    let chart: TimeChart | null = null;
    let win: MetricWindow | null = null;
    let shown: MetricSubscribeResult | null = null;
    const read = () => (win as MetricWindow).data();
    const setup = (result: MetricSubscribeResult) => {
      chart?.destroy();
      shown = result;
      win = new MetricWindow(result, stats ?? result.columns);
      // Without a canvas (a DOM emulation) there is nothing to draw; the table view still works.
      if (canDraw()) chart = new TimeChart(element, { height, labels: win.lines.map((l) => l.label), onDraw: () => onDraw.current?.() });
    };
    const columns = stream.columns;
    if (stream.result !== null && columns !== null) {
      setup(stream.result);
      (win as unknown as MetricWindow).load(columns);
      (chart as TimeChart | null)?.update(read);
    }
    const off = stream.onFrame((event, result) => {
      if (event.frame.kind === 'backfill') {
        if (result !== shown) setup(result);
        (win as unknown as MetricWindow).load(event.columns);
      } else if (win !== null) {
        win.apply(event.frame);
      }
      chart?.update(read);
    });
    return () => {
      off();
      chart?.destroy();
    };
  }, [stream, statsKey, height]);

  const error = shape.error;
  return h(
    'figure',
    { 'data-testid': `chart-${name}`, className: props.className ?? 'sb-metric-chart', 'aria-busy': shape.isLoading && error === null },
    h(
      'figcaption',
      null,
      h('span', null, title),
      ' ',
      h('button', { type: 'button', 'aria-pressed': showTable, onClick: () => setShowTable((v) => !v) }, 'Table'),
    ),
    h('div', { ref: plotRef, role: 'img', 'aria-label': `${title}: chart`, hidden: showTable, style: { minHeight: height } }),
    showTable ? h(MetricTable, { stream, stats: props.stats, caption: title, testId: `chart-${name}-table` }) : null,
    error !== null && !showTable ? h('p', { role: 'alert' }, `Not available (${error.code})`) : null,
  );
}
