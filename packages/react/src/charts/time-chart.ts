import uPlot from 'uplot';

/** Options of a `TimeChart`. */
export interface TimeChartOptions {
  /** Plot height, px. */
  height: number;
  /** One name per y column, in order. */
  labels: readonly string[];
  /** Called after each redraw (at most once per animation frame). */
  onDraw?: () => void;
  /**
   * The visible time range `[from, to]` (ms) at each redraw; default (or null) the data's own.
   * A range that follows the clock makes the chart slide on every `update`, between points.
   */
  xRange?: () => readonly [number, number] | null;
}

/** Colours of the lines when the page sets none: `--sb-chart-line-1` … `--sb-chart-line-8` override them. */
const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

const nextFrame = (run: () => void): (() => void) => {
  const g = globalThis as { requestAnimationFrame?: (cb: () => void) => number; cancelAnimationFrame?: (id: number) => void };
  if (typeof g.requestAnimationFrame === 'function' && typeof g.cancelAnimationFrame === 'function') {
    const id = g.requestAnimationFrame.call(globalThis, run);
    return () => g.cancelAnimationFrame?.call(globalThis, id);
  }
  const timer = setTimeout(run, 16);
  return () => clearTimeout(timer);
};

let canvas: boolean | null = null;

/** Whether this environment draws on a canvas (not on the server, nor in DOM emulations without one). */
export function canDraw(): boolean {
  if (canvas === null) canvas = typeof document !== 'undefined' && document.createElement('canvas').getContext?.('2d') != null;
  return canvas;
}

/** The range of the y columns, ignoring slots without a value (`NaN`), padded a little. */
function yRange(u: uPlot): [number, number] {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let k = 1; k < u.data.length; k++) {
    const column = u.data[k] as ArrayLike<number | null | undefined>;
    for (let i = 0; i < column.length; i++) {
      const v = column[i];
      if (typeof v !== 'number' || Number.isNaN(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (min > max) return [0, 1];
  if (min === max) return min === 0 ? [0, 1] : [Math.min(0, min), Math.max(0, max) * 1.1];
  const pad = (max - min) * 0.05;
  return [min >= 0 && min - pad < 0 ? 0 : min - pad, max + pad];
}

/**
 * The one uPlot wrapper: a time chart over columns the caller keeps (typed arrays, written in
 * place). `update(read)` asks for a redraw; however many updates arrive, the chart reads the
 * columns and redraws at most once per animation frame, outside React.
 *
 * @example
 * const chart = new TimeChart(element, { height: 200, labels: ['p95'] });
 * chart.update(() => [xs.subarray(0, n), p95.subarray(0, n)]);
 */
export class TimeChart {
  readonly #plot: uPlot;
  readonly #onDraw: (() => void) | undefined;
  readonly #resize: ResizeObserver | null = null;
  #read: (() => ArrayLike<number>[]) | null = null;
  #cancel: (() => void) | null = null;
  #destroyed = false;

  constructor(element: HTMLElement, options: TimeChartOptions) {
    this.#onDraw = options.onDraw;
    const style = typeof getComputedStyle === 'function' ? getComputedStyle(element) : null;
    const colour = (k: number) => style?.getPropertyValue(`--sb-chart-line-${k + 1}`).trim() || (PALETTE[k % PALETTE.length] as string);
    const width = () => Math.max(200, element.clientWidth || 600);
    this.#plot = new uPlot(
      {
        width: width(),
        height: options.height,
        ms: 1,
        legend: { show: false },
        scales: {
          x: { range: (_u, min, max) => (options.xRange?.() as [number, number] | null | undefined) ?? [min, max] },
          y: { range: (u) => yRange(u) },
        },
        series: [{}, ...options.labels.map((label, k) => ({ label, stroke: colour(k), width: 1.5, spanGaps: true }))],
      },
      [[], ...options.labels.map(() => [])],
      element,
    );
    if (typeof ResizeObserver === 'function') {
      this.#resize = new ResizeObserver(() => {
        if (!this.#destroyed) this.#plot.setSize({ width: width(), height: options.height });
      });
      this.#resize.observe(element);
    }
  }

  /** Redraw from `read()` at the next animation frame (one redraw for every update before it). */
  update(read: () => ArrayLike<number>[]): void {
    this.#read = read;
    if (this.#cancel !== null || this.#destroyed) return;
    this.#cancel = nextFrame(() => {
      this.#cancel = null;
      const read = this.#read;
      if (this.#destroyed || read === null) return;
      this.#plot.setData(read() as uPlot.AlignedData);
      this.#onDraw?.();
    });
  }

  destroy(): void {
    this.#destroyed = true;
    this.#cancel?.();
    this.#cancel = null;
    this.#resize?.disconnect();
    this.#plot.destroy();
  }
}
