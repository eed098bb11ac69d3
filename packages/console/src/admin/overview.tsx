import type { ReactNode } from 'react';
import { describeError, type Session } from '../api';
import { usePolled } from '../polled';
import { ChartSlots } from './chart-slots';
import { listConnections } from './connection-list';

/** The live numbers: connections (over every node), subscriptions, nodes; read every second. */
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
      <ChartSlots />
    </>
  );
}
