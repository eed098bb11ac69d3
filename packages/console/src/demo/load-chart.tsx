import { useChannel, usePublish } from '@switchboard/react';
import { canDraw, TimeChart } from '@switchboard/react/charts';
import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import type { DemoUser } from './token';

/** The channel the generator's samples travel on: every viewer charts the same values. */
export const LOAD = 'demo:load';
/** Samples kept on the chart: 30 s at one sample per 250 ms. */
const SIZE = 120;
const TICK_MS = 250;
/** The generator stops by itself after this long. */
const RUN_MS = 60_000;

interface Sample {
  t: number;
  rps: number;
  p95: number;
  by: string;
}

const isSample = (s: unknown): s is Sample => {
  const v = s as Partial<Sample> | null;
  return typeof v === 'object' && v !== null && [v.t, v.rps, v.p95].every((n) => typeof n === 'number' && Number.isFinite(n)) && typeof v.by === 'string';
};

/** The chart's columns, allocated once: new samples appended, the oldest shifted out in place. */
class SampleWindow {
  readonly t = new Float64Array(SIZE);
  readonly rps = new Float64Array(SIZE);
  readonly p95 = new Float64Array(SIZE);
  readonly by: string[] = [];
  n = 0;

  push(s: Sample): void {
    if (this.n === SIZE) {
      this.t.copyWithin(0, 1);
      this.rps.copyWithin(0, 1);
      this.p95.copyWithin(0, 1);
      this.by.shift();
      this.n--;
    }
    this.t[this.n] = s.t;
    this.rps[this.n] = s.rps;
    this.p95[this.n] = s.p95;
    this.by.push(s.by);
    this.n++;
  }

  columns(): ArrayLike<number>[] {
    return [this.t.subarray(0, this.n), this.rps.subarray(0, this.n), this.p95.subarray(0, this.n)];
  }

  /** The newest `count` samples, newest first. */
  latest(count: number): Sample[] {
    const rows: Sample[] = [];
    for (let i = this.n - 1; i >= 0 && rows.length < count; i--)
      rows.push({ t: this.t[i] as number, rps: this.rps[i] as number, p95: this.p95[i] as number, by: this.by[i] as string });
    return rows;
  }
}

/** Hears the channel; renders nothing, so a sample never re-renders the chart's tree. */
function Feed({ onSample }: { onSample: (s: unknown) => void }): null {
  useChannel<unknown>(LOAD, (p) => onSample(p.data));
  return null;
}

/** The built-in generator: a random walk of requests per second and a p95 latency with spikes. */
function nextSample(previous: { rps: number; p95: number }): { rps: number; p95: number } {
  const rps = Math.max(20, Math.min(800, previous.rps + (Math.random() - 0.5) * 60));
  const spike = Math.random() < 0.08 ? 60 + Math.random() * 120 : 0;
  const p95 = Math.max(5, 30 + rps / 20 + (Math.random() - 0.5) * 10 + spike);
  return { rps: Math.round(rps), p95: Math.round(p95 * 10) / 10 };
}

/**
 * A live chart of generated load, shared by every viewer: whoever starts the generator
 * publishes a sample every 250 ms on `demo:load`; each viewer appends it to typed-array
 * columns and the uPlot wrapper redraws at most once per frame, outside React. A table view
 * shows the same numbers.
 */
export default function LoadChart({ who }: { who: DemoUser }): ReactNode {
  const samples = useRef(new SampleWindow());
  const root = useRef<HTMLElement>(null);
  const plot = useRef<HTMLDivElement>(null);
  const chart = useRef<TimeChart | null>(null);
  const [table, setTable] = useState(false);
  const [rows, setRows] = useState<Sample[]>([]);
  const publish = usePublish<Sample>(LOAD);
  const generator = useRef<{ timer: ReturnType<typeof setInterval>; stopAt: number } | null>(null);
  const [running, setRunning] = useState(false);

  useEffect(() => {
    if (!plot.current || !canDraw()) return;
    const c = new TimeChart(plot.current, { height: 180, labels: ['requests/s', 'p95 ms'] });
    chart.current = c;
    c.update(() => samples.current.columns());
    return () => {
      chart.current = null;
      c.destroy();
    };
  }, []);

  const onSample = useCallback((s: unknown) => {
    if (!isSample(s)) return;
    samples.current.push(s);
    root.current?.setAttribute('data-points', String(samples.current.n));
    chart.current?.update(() => samples.current.columns());
  }, []);

  // The table view follows the samples once a second while shown.
  useEffect(() => {
    if (!table) return;
    const show = () => setRows(samples.current.latest(10));
    show();
    const timer = setInterval(show, 1000);
    return () => clearInterval(timer);
  }, [table]);

  const stop = useCallback(() => {
    if (generator.current) clearInterval(generator.current.timer);
    generator.current = null;
    setRunning(false);
  }, []);
  useEffect(() => stop, [stop]);

  const start = () => {
    if (generator.current) return;
    let value = { rps: 200, p95: 40 };
    const stopAt = Date.now() + RUN_MS;
    const timer = setInterval(() => {
      if (Date.now() >= stopAt) return stop();
      value = nextSample(value);
      void publish({ t: Date.now(), ...value, by: who.name }).catch(() => undefined);
    }, TICK_MS);
    generator.current = { timer, stopAt };
    setRunning(true);
  };

  return (
    <figure className="demo-chart" data-testid="chart-load" data-points="0" ref={root}>
      <Feed onSample={onSample} />
      <figcaption>Generated load: requests per second and p95 latency (ms), last 30 s</figcaption>
      <div className="demo-row">
        <button type="button" data-testid="load-run" aria-pressed={running} onClick={running ? stop : start}>
          {running ? 'Stop the generator' : 'Start the generator'}
        </button>
        <button type="button" aria-pressed={table} onClick={() => setTable(!table)}>
          Table
        </button>
      </div>
      <div ref={plot} className="demo-plot" hidden={table} />
      {table && (
        <table className="demo-table" data-testid="chart-load-table">
          <caption>Generated load, newest first</caption>
          <thead>
            <tr>
              <th scope="col">time (UTC)</th>
              <th scope="col">requests/s</th>
              <th scope="col">p95 ms</th>
              <th scope="col">from</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.t}-${r.by}`}>
                <td>{new Date(r.t).toISOString().slice(11, 23)}</td>
                <td>{r.rps}</td>
                <td>{r.p95}</td>
                <td>{r.by}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </figure>
  );
}
