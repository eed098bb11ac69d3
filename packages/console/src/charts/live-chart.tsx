import type { MetricColumns } from '@switchboard/client';
import { canDraw, formatValue, TimeChart } from '@switchboard/react/charts';
import { type ReactNode, useEffect, useMemo, useRef, useState } from 'react';
import { type Latest, LineWindow, SlidingAxis, type WindowLine } from './line-window';

/** What a chart reads: the lines' views, the newest bucket of the feed, and frames as they land. */
export interface ChartSource {
  view(sub: string): MetricColumns | null;
  newest(): number;
  onFrame(listener: () => void): () => void;
}

export interface LiveChartProps {
  /** `data-testid="chart-<name>"` on the figure, `chart-<name>-table` on its table. */
  name: string;
  title: string;
  unit: string;
  source: ChartSource;
  /** The lines drawn; a new array rebuilds the plot. */
  lines: ReadonlyArray<WindowLine & { label: string }>;
  /** Buckets of the window drawn (60 one-second buckets: a minute). */
  buckets?: number;
  /** Shown instead of the plot while there is nothing to draw. */
  empty?: string;
  height?: number;
}

/** How often a live chart redraws while its page is visible: its time axis slides at this rate between the server's one-second buckets. */
export const CHART_FPS = 10;

/** Calls `run` at most once per animation frame, however often `schedule` is called. */
function perFrame(run: () => void): { schedule(): void; cancel(): void } {
  let id: number | null = null;
  return {
    schedule() {
      if (id === null)
        id = requestAnimationFrame(() => {
          id = null;
          run();
        });
    },
    cancel() {
      if (id !== null) cancelAnimationFrame(id);
      id = null;
    },
  };
}

/**
 * One live chart: the react package's uPlot wrapper (`TimeChart`) over a `LineWindow`, fed by
 * frames outside React (the plot redraws at most once per animation frame, and CHART_FPS times a
 * second as its time axis slides; React renders the chart when its lines change or its table
 * view is toggled). The table view holds the latest value of each line, refreshed once per
 * animation frame while it is shown.
 */
export function LiveChart(props: LiveChartProps): ReactNode {
  const { source, lines, name } = props;
  const height = props.height ?? 160;
  const plotRef = useRef<HTMLDivElement | null>(null);
  const [showTable, setShowTable] = useState(false);
  const win = useMemo(() => new LineWindow(lines, props.buckets ?? 60), [lines, props.buckets]);
  const labels = lines.map((l) => l.label).join('\n');

  // biome-ignore lint/correctness/useExhaustiveDependencies: `labels` names the lines `win` was made for
  useEffect(() => {
    const element = plotRef.current;
    if (element === null || lines.length === 0 || !canDraw()) return;
    const axis = new SlidingAxis(win.capacity - 1);
    const chart = new TimeChart(element, { height, labels: lines.map((l) => l.label), xRange: () => axis.range() });
    const read = () => {
      const columns = win.fill((sub) => source.view(sub));
      if (win.length > 0) axis.seen(win.end, win.step);
      return columns;
    };
    // A chart out of view (scrolled away, or its table shown) draws nothing until it is back.
    let visible = true;
    const draw = () => {
      if (visible) chart.update(read);
    };
    const seen =
      typeof IntersectionObserver === 'function'
        ? new IntersectionObserver((entries) => {
            visible = entries[entries.length - 1]?.isIntersecting ?? true;
            draw();
          })
        : null;
    seen?.observe(element);
    chart.update(read);
    const off = source.onFrame(draw);
    // Between frames the axis slides with the clock (a hidden page draws nothing: the browser pauses its frames).
    const ticker = setInterval(draw, 1000 / CHART_FPS);
    return () => {
      off();
      clearInterval(ticker);
      seen?.disconnect();
      chart.destroy();
    };
  }, [win, source, height, labels]);

  return (
    <figure className="chart" data-testid={`chart-${name}`}>
      <figcaption>
        <span>{props.title}</span>{' '}
        <button type="button" aria-pressed={showTable} onClick={() => setShowTable((v) => !v)}>
          Table
        </button>
      </figcaption>
      {lines.length === 0 ? <p className="muted">{props.empty ?? 'Nothing reports yet.'}</p> : null}
      <div ref={plotRef} className="plot" role="img" aria-label={`${props.title}: chart`} hidden={showTable || lines.length === 0} />
      {showTable ? <LatestTable name={name} title={props.title} unit={props.unit} source={source} win={win} /> : null}
    </figure>
  );
}

const time = (t: number | null) => (t === null ? '–' : new Date(t).toISOString().slice(11, 19));

/** The latest value of every line of a chart, as a table (re-rendered at most once per animation frame while shown). */
function LatestTable(props: { name: string; title: string; unit: string; source: ChartSource; win: LineWindow }): ReactNode {
  const { source, win } = props;
  const [latest, setLatest] = useState<Latest[]>(() => win.latest((sub) => source.view(sub), source.newest()));
  useEffect(() => {
    const frame = perFrame(() => setLatest(win.latest((sub) => source.view(sub), source.newest())));
    frame.schedule();
    const off = source.onFrame(frame.schedule);
    return () => {
      off();
      frame.cancel();
    };
  }, [source, win]);
  const labels = (win.lines as ReadonlyArray<WindowLine & { label: string }>).map((l) => l.label);
  return (
    <table data-testid={`chart-${props.name}-table`}>
      <caption>
        {props.title}: latest values ({props.unit})
      </caption>
      <thead>
        <tr>
          <th scope="col">line</th>
          <th scope="col">latest</th>
          <th scope="col">bucket (UTC)</th>
        </tr>
      </thead>
      <tbody>
        {labels.map((label, k) => (
          <tr key={label}>
            <th scope="row">{label}</th>
            <td className="value">{formatValue(latest[k]?.value ?? Number.NaN)}</td>
            <td>{time(latest[k]?.t ?? null)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
