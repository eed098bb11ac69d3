import type { MetricStat } from '@switchboard/client';
import { type FormEvent, lazy, type ReactNode, Suspense, useState } from 'react';
import { api, describeError, type Session } from '../api';
import type { SeriesQuery, SeriesScope } from '../charts/query-source';
import { usePolled } from '../polled';

/** The chart, with uPlot, is its own chunk. */
const SeriesChart = lazy(() => import('../charts/series-chart'));

type Kind = SeriesQuery['kind'];

interface ListedSeries {
  name: string;
  source: 'config' | 'api' | 'system';
  declaration: { kind: Kind; unit?: string; labels: string[] };
  labelSets?: Array<Record<string, string>>;
}

/** What a chart of each kind draws (docs/metrics.md "Kinds"). */
const STATS: Record<Kind, readonly MetricStat[]> = {
  gauge: ['last'],
  counter: ['rate'],
  distribution: ['p50', 'p95', 'p99'],
};

const RESOLUTIONS = ['1s', '10s', '1m'] as const;

const scopeName = (scope: SeriesScope) => (scope.system ? "the server's own series" : `the series of tenant ${scope.tenant ?? ''}`);

/**
 * The metric series page: the series of a tenant (an admin key names it; a tenant key has its
 * own) or, with an admin key, the server's own (`scope=system`), from `GET /api/v1/metrics/series`;
 * chart one of them for one label set at any resolution the query offers (1 s, 10 s, 1 min).
 */
export function Metrics({ session }: { session: Session }): ReactNode {
  const admin = session.scope.admin;
  const [typed, setTyped] = useState('');
  const [scope, setScope] = useState<SeriesScope>(admin ? { system: true } : { system: false, tenant: session.scope.tenant });
  const [chosen, setChosen] = useState<ListedSeries | null>(null);
  const list = usePolled(
    () =>
      scope.system
        ? api<{ series: ListedSeries[] }>(session.key, '/metrics/series?scope=system')
        : api<{ series: ListedSeries[] }>(session.key, '/metrics/series', { tenant: scope.tenant }),
    10_000,
    [session.key, JSON.stringify(scope)],
  );

  const chooseScope = (e: FormEvent) => {
    e.preventDefault();
    const tenant = typed.trim();
    setScope(tenant ? { system: false, tenant } : { system: true });
    setChosen(null);
  };

  return (
    <>
      {admin ? (
        <form onSubmit={chooseScope} className="search">
          <label>
            Tenant (empty: the server&apos;s own series) <input data-testid="metrics-tenant" value={typed} onChange={(e) => setTyped(e.target.value)} />
          </label>
          <button type="submit">Show series</button>
        </form>
      ) : null}
      {list.error ? (
        <p role="alert" className="error">
          {describeError(list.error)}
        </p>
      ) : null}
      <table>
        <caption>{scopeName(scope)}</caption>
        <thead>
          <tr>
            <th scope="col">Series</th>
            <th scope="col">Kind</th>
            <th scope="col">Unit</th>
            <th scope="col">Labels</th>
            <th scope="col">Source</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.series ?? []).map((s) => (
            <tr key={s.name} data-testid="series-row" data-series={s.name}>
              <td>
                <button type="button" className="link" onClick={() => setChosen(s)}>
                  {s.name}
                </button>
              </td>
              <td>{s.declaration.kind}</td>
              <td>{s.declaration.unit ?? ''}</td>
              <td>{s.declaration.labels.join(', ')}</td>
              <td>{s.source}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.data.series.length === 0 ? <p>No series.</p> : null}
      {chosen ? <SeriesView key={`${JSON.stringify(scope)}|${chosen.name}`} session={session} scope={scope} series={chosen} /> : null}
    </>
  );
}

/** One series: its label set and resolution chosen, then its chart. */
function SeriesView({ session, scope, series }: { session: Session; scope: SeriesScope; series: ListedSeries }): ReactNode {
  const sets = series.labelSets ?? [];
  const [labelsText, setLabelsText] = useState(JSON.stringify(sets[0] ?? {}));
  const [resolution, setResolution] = useState<SeriesQuery['resolution']>('1s');
  let labels: Record<string, string> | null = null;
  try {
    const parsed = JSON.parse(labelsText) as unknown;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) && Object.values(parsed).every((v) => typeof v === 'string'))
      labels = parsed as Record<string, string>;
  } catch {
    labels = null;
  }
  const query: SeriesQuery | null =
    labels === null ? null : { scope, series: series.name, kind: series.declaration.kind, labels, resolution, stats: STATS[series.declaration.kind] };

  return (
    <section aria-labelledby="series-heading">
      <h2 id="series-heading">{series.name}</h2>
      <div className="search">
        {sets.length > 0 ? (
          <label>
            Label set
            <select data-testid="series-labels" value={labelsText} onChange={(e) => setLabelsText(e.target.value)}>
              {sets.map((set) => (
                <option key={JSON.stringify(set)} value={JSON.stringify(set)}>
                  {Object.entries(set)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(', ') || '(none)'}
                </option>
              ))}
            </select>
          </label>
        ) : (
          <label>
            Label set (JSON) <input data-testid="series-labels" value={labelsText} onChange={(e) => setLabelsText(e.target.value)} />
          </label>
        )}
        <label>
          Resolution
          <select data-testid="series-resolution" value={resolution} onChange={(e) => setResolution(e.target.value as SeriesQuery['resolution'])}>
            {RESOLUTIONS.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
      </div>
      {query === null ? (
        <p role="alert" className="error">
          The label set must be a JSON object of strings.
        </p>
      ) : (
        <Suspense fallback={<p role="status">loading the chart…</p>}>
          <SeriesChart session={session} query={query} />
        </Suspense>
      )}
    </section>
  );
}
