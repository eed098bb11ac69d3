import type { MetricColumns, MetricStat, SwitchboardError } from '@switchboard/client';
import { api, type Session } from '../api';
import { type QueryAnswer, queryColumns } from './query-columns';

/** What the overview's feed reads of a subscription: the SDK's `MetricSubscription`, or this polled stand-in. */
export interface FeedSubscription {
  readonly result: object | null;
  readonly columns: MetricColumns;
  on(event: 'backfill' | 'update', listener: () => void): () => void;
  on(event: 'error', listener: (e: { error: SwitchboardError }) => void): () => void;
  unsubscribe(): Promise<unknown>;
}

/** How often a read-only key's charts read the system scope again, ms. */
const EVERY = 2000;

/**
 * The overview's stand-in for a metric subscription when the key may only read (a read-only
 * admin key can mint neither a console token nor a grant, both POSTs): the same series read
 * from `GET /api/v1/metrics/query?scope=system` every 2 s, one request per series, into the
 * SDK's view shape. Its first read is its "backfill", later ones its "updates".
 */
export class PolledSubscription implements FeedSubscription {
  result: object | null = null;
  columns: MetricColumns = { step: 1000, from: 0, series: [] };
  readonly #listeners = { backfill: new Set<() => void>(), update: new Set<() => void>(), error: new Set<(e: { error: SwitchboardError }) => void>() };
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(
    private readonly session: Session,
    private readonly params: { series: string[]; labels: Record<string, string>; stats: readonly MetricStat[] },
    private readonly window: number,
  ) {
    void this.#read();
  }

  on(event: 'backfill' | 'update' | 'error', listener: never): () => void {
    const set = this.#listeners[event] as Set<unknown>;
    set.add(listener);
    return () => set.delete(listener);
  }

  async unsubscribe(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #read(): Promise<void> {
    const { series, labels, stats } = this.params;
    const from = Date.now() - this.window;
    try {
      const answers = await Promise.all(
        series.map((name) => {
          const q = new URLSearchParams({
            scope: 'system',
            series: name,
            labels: JSON.stringify(labels),
            resolution: '1s',
            stats: stats.join(','),
            from: String(from),
          });
          return api<QueryAnswer>(this.session.key, `/metrics/query?${q}`);
        }),
      );
      if (this.#stopped) return;
      const first = answers[0];
      this.columns = {
        step: first?.step ?? 1000,
        from: first?.start ?? from,
        series: answers.map((a, i) => ({
          series: series[i] as string,
          labels,
          kind: a.kind,
          ...(a.unit === undefined ? {} : { unit: a.unit }),
          ...queryColumns(a, stats),
        })),
      };
      const event = this.result === null ? 'backfill' : 'update';
      this.result = {};
      for (const l of [...this.#listeners[event]]) l();
    } catch (err) {
      if (this.#stopped) return;
      for (const l of [...this.#listeners.error]) l({ error: err as SwitchboardError });
      return;
    }
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#read(), EVERY);
  }
}
