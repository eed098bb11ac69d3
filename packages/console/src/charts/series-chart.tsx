import { type ReactNode, useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { describeError, type Session } from '../api';
import { LiveChart } from './live-chart';
import { QuerySource, type SeriesQuery } from './query-source';

/** Buckets each resolution keeps by default (docs/metrics.md "Resolutions and retention"): the window drawn. */
const BUCKETS: Record<SeriesQuery['resolution'], number> = { '1s': 60, '10s': 30, '1m': 15 };

/**
 * One series' chart on the metric series page (`chart-series`, with its table view
 * `chart-series-table`): `GET /api/v1/metrics/query` read as often as the resolution changes,
 * drawn by the same `LiveChart` as the overview's. Its own chunk, with uPlot.
 */
export default function SeriesChart({ session, query }: { session: Session; query: SeriesQuery }): ReactNode {
  const [source, setSource] = useState<QuerySource | null>(null);
  const key = JSON.stringify(query);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` stands for the query
  useEffect(() => {
    const next = new QuerySource(session, query);
    next.start();
    setSource(next);
    return () => next.stop();
  }, [session, key]);

  const lines = useMemo(
    () => query.stats.map((stat) => ({ label: stat, sub: 'query', series: 0, stat, emptyIsZero: stat === 'rate' || stat === 'count' || stat === 'sum' })),
    [query.stats],
  );
  if (source === null) return <p role="status">loading…</p>;
  return (
    <>
      <SourceError source={source} />
      <LiveChart
        name="series"
        title={`${query.series} ${JSON.stringify(query.labels)} at ${query.resolution}`}
        unit={query.stats.join(', ')}
        source={source}
        lines={lines}
        buckets={BUCKETS[query.resolution]}
        height={220}
      />
    </>
  );
}

function SourceError({ source }: { source: QuerySource }): ReactNode {
  const error = useSyncExternalStore(
    (listener) => source.onFrame(listener),
    () => source.error,
  );
  return error ? (
    <p role="alert" className="error">
      {describeError(error)}
    </p>
  ) : null;
}
