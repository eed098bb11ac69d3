import { lazy, type ReactNode, Suspense } from 'react';
import { describeError, type Session } from '../api';
import { usePolled } from '../polled';
import { BASE, Link } from '../router';
import { listConnections } from './connection-list';

/** The charts, with the SDK and uPlot, are their own chunk: loaded once an admin key is in. */
const SystemCharts = lazy(() => import('../charts/system-charts'));

/**
 * The live numbers: connections (over every node), subscriptions, nodes, read every second;
 * then, for an admin key, the live charts of the server's own figures. A tenant key does not
 * reach them (they are the whole server's): it gets a note instead.
 */
export function Overview({ session }: { session: Session }): ReactNode {
  const counts = usePolled(() => listConnections(session, { limit: 0 }), 1000, [session.key]);
  const data = counts.data;
  return (
    <>
      <section aria-labelledby="live-heading" className="cards">
        <h2 id="live-heading">Live</h2>
        <dl>
          <div className="card">
            <dt>Connections</dt>
            <dd data-testid="connections-count">{data ? data.total : '…'}</dd>
          </div>
          <div className="card">
            <dt>Subscriptions</dt>
            <dd data-testid="subscriptions-count">{data ? data.subscriptions : '…'}</dd>
          </div>
          <div className="card">
            <dt>Nodes</dt>
            <dd>
              {data ? data.nodes : '…'}
              {data && !data.complete ? ' (a node did not answer)' : ''}
            </dd>
          </div>
        </dl>
        {counts.error ? (
          <p role="alert" className="error">
            {describeError(counts.error)}
          </p>
        ) : null}
      </section>
      {session.scope.admin ? (
        <Suspense
          fallback={
            <p role="status" data-testid="charts-status">
              loading the charts…
            </p>
          }
        >
          <SystemCharts session={session} />
        </Suspense>
      ) : (
        <section aria-labelledby="charts-heading">
          <h2 id="charts-heading">Charts</h2>
          <p className="note" data-testid="charts-note">
            The live charts show the whole server's figures (every tenant), so they need an admin key. This tenant's own series are on the{' '}
            <Link to={`${BASE}/admin/metrics`}>Metrics</Link> page.
          </p>
        </section>
      )}
    </>
  );
}
