import type { MetricStat } from '@switchboard/client';
import { createElement as h, type ReactNode } from 'react';
import type { MetricSnapshot, MetricStream } from '../metric-stream.js';
import { useSelected } from '../select.js';
import { LOADING } from '../store.js';
import { formatValue } from './format-value.js';

/** Rows of the table, newest bucket first: its start and one value per (series, stat) drawn. */
export function tableRows(snapshot: MetricSnapshot, stats: readonly MetricStat[]): { labels: string[]; rows: Array<{ t: number; values: number[] }> } {
  const drawn = stats.filter((s) => snapshot.columns.includes(s));
  const several = snapshot.series.length > 1;
  const labels = snapshot.series.flatMap((s) => drawn.map((stat) => (several ? `${s.series} ${stat}` : stat)));
  const byStart = new Map<number, number[]>();
  snapshot.series.forEach((s, i) => {
    s.t.forEach((t, j) => {
      let row = byStart.get(t);
      if (row === undefined) {
        row = labels.map(() => Number.NaN);
        byStart.set(t, row);
      }
      drawn.forEach((stat, k) => {
        (row as number[])[i * drawn.length + k] = s.stats[stat]?.[j] ?? Number.NaN;
      });
    });
  });
  const rows = [...byStart.entries()].sort((a, b) => b[0] - a[0]).map(([t, values]) => ({ t, values }));
  return { labels, rows };
}

const time = (t: number) => new Date(t).toISOString().slice(11, 19);

/** The numbers of a metric chart as an accessible table (it re-renders with every frame while shown). */
export function MetricTable(props: { stream: MetricStream | null; stats: readonly MetricStat[] | undefined; caption: string; testId?: string }): ReactNode {
  const result = useSelected(props.stream?.store ?? null, LOADING, (r) => r);
  const snapshot = result.data;
  if (snapshot === undefined) return h('p', { role: 'status' }, result.error ? `Not available (${result.error.code})` : 'Loading…');
  const { labels, rows } = tableRows(snapshot, props.stats ?? snapshot.columns);
  return h(
    'table',
    { className: 'sb-metric-table', ...(props.testId !== undefined ? { 'data-testid': props.testId } : {}) },
    h('caption', null, props.caption),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'time (UTC)'), ...labels.map((l) => h('th', { scope: 'col', key: l }, l)))),
    h(
      'tbody',
      null,
      rows.map((row) =>
        h(
          'tr',
          { key: row.t },
          h('th', { scope: 'row' }, h('time', { dateTime: new Date(row.t).toISOString() }, time(row.t))),
          ...row.values.map((v, k) => h('td', { key: labels[k] }, formatValue(v))),
        ),
      ),
    ),
  );
}
