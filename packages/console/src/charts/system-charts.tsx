import { type ReactNode, useEffect, useState, useSyncExternalStore } from 'react';
import type { Session } from '../api';
import { LiveChart } from './live-chart';
import { consoleClient } from './live-client';
import { OVERVIEW_CHARTS, SystemFeed } from './system-feed';

/**
 * The overview's live charts of the server's own figures (admin key): one SDK connection of
 * the console's own (`POST /api/v1/console/token`), one `SystemFeed` of metric subscriptions
 * of the system scope, and one `LiveChart` per figure; a read-only admin key, which may POST
 * nothing, gets the same charts read from `GET /api/v1/metrics/query?scope=system` every 2 s. Loaded on demand (its own chunk, with
 * the SDK and uPlot), so the login page does not pay for it.
 */
export default function SystemCharts({ session }: { session: Session }): ReactNode {
  const [feed, setFeed] = useState<SystemFeed | null>(null);

  useEffect(() => {
    // A read-only key mints neither a token nor a grant (both POSTs): its charts read the query route.
    const client = session.scope.readOnly ? null : consoleClient(session);
    const next = new SystemFeed(session, client);
    // Connect after React's StrictMode re-mount: a socket is never opened only to be closed at once.
    const start = setTimeout(() => {
      client?.connect();
      next.start();
      setFeed(next);
    }, 0);
    return () => {
      clearTimeout(start);
      next.close();
      client?.disconnect();
      setFeed(null);
    };
  }, [session]);

  return (
    <section aria-labelledby="charts-heading">
      <h2 id="charts-heading">Charts</h2>
      {feed === null ? (
        <p role="status" data-testid="charts-status">
          connecting…
        </p>
      ) : (
        <FeedCharts feed={feed} />
      )}
    </section>
  );
}

function FeedCharts({ feed }: { feed: SystemFeed }): ReactNode {
  const state = useSyncExternalStore(
    (listener) => feed.onShape(listener),
    () => feed.state,
  );
  // The lines change only with the state's notifications; read them on each render.
  const status = state.phase === 'live' ? 'live' : state.phase === 'failed' ? `not available: ${state.error}` : 'connecting…';
  return (
    <>
      <p role="status" data-testid="charts-status" className={state.phase === 'failed' ? 'error' : 'muted'}>
        {status}
        {feed.hiddenNodes > 0 ? ` (${feed.hiddenNodes} more nodes than the connection's subscriptions allow are not charted)` : ''}
        {feed.hiddenCodes > 0 ? ` (${feed.hiddenCodes} more error codes than the connection's subscriptions allow are not charted)` : ''}
      </p>
      <div className="charts">
        {OVERVIEW_CHARTS.map((c) => (
          <LiveChart
            key={c.metric}
            name={c.metric}
            title={c.title}
            unit={c.unit}
            source={feed}
            lines={feed.lines(c.metric)}
            empty={c.metric === 'errors' ? 'No errors yet.' : undefined}
          />
        ))}
      </div>
    </>
  );
}
