import type { MetricColumns, MetricStat } from '@switchboard/client';
import { api, type Session } from '../api';
import { type QueryAnswer, queryColumns } from './query-columns';

/** Which series a query reads: a tenant's (an admin key names it) or the server's own (`scope=system`, admin key). */
export type SeriesScope = { system: true } | { system: false; tenant: string | null };

export interface SeriesQuery {
  scope: SeriesScope;
  series: string;
  kind: 'gauge' | 'counter' | 'distribution';
  labels: Record<string, string>;
  resolution: '1s' | '10s' | '1m';
  stats: readonly MetricStat[];
}

/** How often each resolution is read again, ms. */
const EVERY: Record<SeriesQuery['resolution'], number> = { '1s': 1000, '10s': 5000, '1m': 15_000 };

/**
 * A chart source over `GET /api/v1/metrics/query`, read now and then as often as the
 * resolution changes (1 s, 5 s, 15 s): the answer becomes the SDK's view shape (the non-empty
 * buckets, per statistic), so the same `LiveChart` draws it. One view, key `query`.
 */
export class QuerySource {
  #view: MetricColumns | null = null;
  #end = Number.NEGATIVE_INFINITY;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  readonly #listeners = new Set<() => void>();
  /** The last refusal (null after a read that worked). */
  error: unknown = null;

  constructor(
    private readonly session: Session,
    private readonly query: SeriesQuery,
  ) {}

  view(_sub: string): MetricColumns | null {
    return this.#view;
  }

  /** The newest bucket of the window as of the last read (the server's clock). */
  newest(): number {
    return this.#end;
  }

  onFrame(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    void this.#read();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#listeners.clear();
  }

  async #read(): Promise<void> {
    const q = this.query;
    const params = new URLSearchParams({ series: q.series, labels: JSON.stringify(q.labels), resolution: q.resolution, stats: q.stats.join(',') });
    if (q.scope.system) params.set('scope', 'system');
    try {
      const answer = await api<QueryAnswer>(this.session.key, `/metrics/query?${params}`, q.scope.system ? {} : { tenant: q.scope.tenant });
      if (this.#stopped) return;
      this.#end = answer.start + (answer.count.length - 1) * answer.step;
      this.#view = { step: answer.step, from: answer.start, series: [{ series: q.series, labels: q.labels, kind: q.kind, ...queryColumns(answer, q.stats) }] };
      this.error = null;
    } catch (err) {
      if (this.#stopped) return;
      this.error = err;
    }
    for (const l of [...this.#listeners]) l();
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#read(), EVERY[q.resolution]);
  }
}
