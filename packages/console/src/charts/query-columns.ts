import type { MetricStat } from '@switchboard/client';

/** What `GET /api/v1/metrics/query` answers: columnar buckets from `start`, `step` apart (an empty one has count 0). */
export interface QueryAnswer {
  kind: 'gauge' | 'counter' | 'distribution';
  unit?: string;
  start: number;
  step: number;
  count: number[];
  stats: Partial<Record<MetricStat, Array<number | null>>>;
}

/** The non-empty buckets of an answer as the SDK's view holds a series: their starts, and per statistic their values. */
export function queryColumns(answer: QueryAnswer, stats: readonly MetricStat[]): { t: number[]; stats: Partial<Record<MetricStat, Array<number | null>>> } {
  const t: number[] = [];
  const values: Partial<Record<MetricStat, Array<number | null>>> = {};
  for (const s of stats) values[s] = [];
  answer.count.forEach((n, i) => {
    if (n === 0) return;
    t.push(answer.start + i * answer.step);
    for (const s of stats) values[s]?.push(answer.stats[s]?.[i] ?? null);
  });
  return { t, stats: values };
}
