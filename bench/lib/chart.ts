/**
 * Small SVG charts for docs/benchmarks.md, drawn from a run's results (no dependencies:
 * two chart shapes, lines over a log-scaled x axis and grouped bars).
 */
import { type ServerVariant, serverWorkers, variantLabel } from './variants.js';

const BASE_COLORS: Record<string, string> = { switchboard: '#1f77b4', socketio: '#d62728', ws: '#7f7f7f' };
/** Switchboard with workers: one colour per worker count. */
const WORKER_COLORS = ['#2ca02c', '#17becf', '#9467bd', '#8c564b'];
const color = (k: ServerVariant): string => BASE_COLORS[k] ?? WORKER_COLORS[((serverWorkers(k) ?? 2) - 2) % WORKER_COLORS.length] ?? '#2ca02c';
const W = 640;
const H = 340;
const PAD = { left: 64, right: 150, top: 36, bottom: 48 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${PAD.left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${PAD.left + (W - PAD.left - PAD.right) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${PAD.top + (H - PAD.top - PAD.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function legend(kinds: ServerVariant[]): string[] {
  return kinds.flatMap((k, i) => {
    const y = PAD.top + 10 + i * 20;
    const x = W - PAD.right + 16;
    return [`<rect x="${x}" y="${y - 9}" width="14" height="10" fill="${color(k)}"/>`, `<text x="${x + 20}" y="${y}">${esc(variantLabel(k))}</text>`];
  });
}

export interface Point {
  x: number;
  y: number;
  /** A point that did not meet the bar (incomplete delivery): drawn hollow. */
  failed?: boolean;
}

/** Lines (one per server) over log-scaled axes; an optional horizontal reference line. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: Map<ServerVariant, Point[]>, refY?: { y: number; label: string }): string {
  const pts = [...series.values()].flat();
  if (!pts.length) return frame(title, xLabel, yLabel, ['<text x="100" y="100">no data</text>']);
  const xs = pts.map((p) => p.x);
  const x0 = Math.log10(Math.min(...xs));
  const x1 = Math.max(Math.log10(Math.max(...xs)), x0 + 0.3);
  // Log-scaled y (latencies span milliseconds to tens of seconds), whole decades.
  const ys = pts.map((p) => p.y).filter((y) => y > 0);
  const d0 = Math.floor(Math.log10(Math.min(...ys, refY?.y ?? Infinity)));
  const d1 = Math.max(Math.ceil(Math.log10(Math.max(...ys, refY?.y ?? 0))), d0 + 1);
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const px = (x: number) => PAD.left + ((Math.log10(x) - x0) / (x1 - x0)) * iw;
  const py = (y: number) => PAD.top + ih - ((Math.log10(Math.max(y, 10 ** d0)) - d0) / (d1 - d0)) * ih;
  const body: string[] = [`<rect x="${PAD.left}" y="${PAD.top}" width="${iw}" height="${ih}" fill="none" stroke="#ccc"/>`];
  for (let d = d0; d <= d1; d++) {
    const y = 10 ** d;
    body.push(`<line x1="${PAD.left}" x2="${PAD.left + iw}" y1="${py(y)}" y2="${py(y)}" stroke="#eee"/>`);
    body.push(`<text x="${PAD.left - 6}" y="${py(y) + 4}" text-anchor="end">${y.toLocaleString('en-US')}</text>`);
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    body.push(`<text x="${px(x)}" y="${PAD.top + ih + 16}" text-anchor="middle">${x.toLocaleString('en-US')}</text>`);
  }
  if (refY) {
    body.push(`<line x1="${PAD.left}" x2="${PAD.left + iw}" y1="${py(refY.y)}" y2="${py(refY.y)}" stroke="#2ca02c" stroke-dasharray="5 4"/>`);
    body.push(`<text x="${PAD.left + iw - 4}" y="${py(refY.y) - 4}" text-anchor="end" fill="#2ca02c">${esc(refY.label)}</text>`);
  }
  for (const [kind, points] of series) {
    const sorted = [...points].sort((a, b) => a.x - b.x);
    body.push(
      `<polyline fill="none" stroke="${color(kind)}" stroke-width="2" points="${sorted.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const p of sorted) {
      body.push(
        `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="4" fill="${p.failed ? '#fff' : color(kind)}" stroke="${color(kind)}" stroke-width="2"/>`,
      );
    }
  }
  body.push(...legend([...series.keys()]));
  return frame(title, xLabel, yLabel, body);
}

/** Grouped bars: one group per category, one bar per server. */
export function barChart(title: string, xLabel: string, yLabel: string, groups: Array<{ label: string; values: Map<ServerVariant, number> }>): string {
  const kinds = [...new Set(groups.flatMap((g) => [...g.values.keys()]))];
  const yMax = niceMax(Math.max(0, ...groups.flatMap((g) => [...g.values.values()].filter(Number.isFinite))));
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const py = (y: number) => PAD.top + ih - (y / yMax) * ih;
  const body: string[] = [`<rect x="${PAD.left}" y="${PAD.top}" width="${iw}" height="${ih}" fill="none" stroke="#ccc"/>`];
  for (let i = 0; i <= 5; i++) {
    const y = (yMax * i) / 5;
    body.push(`<line x1="${PAD.left}" x2="${PAD.left + iw}" y1="${py(y)}" y2="${py(y)}" stroke="#eee"/>`);
    body.push(`<text x="${PAD.left - 6}" y="${py(y) + 4}" text-anchor="end">${y >= 1000 ? `${+(y / 1000).toPrecision(3)}k` : +y.toPrecision(3)}</text>`);
  }
  const gw = iw / Math.max(1, groups.length);
  const bw = (gw * 0.7) / Math.max(1, kinds.length);
  groups.forEach((g, gi) => {
    const gx = PAD.left + gi * gw + gw * 0.15;
    body.push(`<text x="${PAD.left + gi * gw + gw / 2}" y="${PAD.top + ih + 16}" text-anchor="middle">${esc(g.label)}</text>`);
    kinds.forEach((k, ki) => {
      const v = g.values.get(k);
      if (v === undefined || !Number.isFinite(v)) return;
      const x = gx + ki * bw;
      body.push(
        `<rect x="${x.toFixed(1)}" y="${py(v).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(PAD.top + ih - py(v)).toFixed(1)}" fill="${color(k)}"/>`,
      );
      body.push(
        `<text x="${(x + bw / 2 - 1).toFixed(1)}" y="${(py(v) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${Math.round(v).toLocaleString('en-US')}</text>`,
      );
    });
  });
  body.push(...legend(kinds));
  return frame(title, xLabel, yLabel, body);
}
