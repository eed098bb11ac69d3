import { AvatarStack, LiveCursors, type MetricSnapshot, useLatest, useMetric, useMyPresence } from '@switchboard/react';
import { type ReactNode, useEffect } from 'react';
import { PROGRESS } from './job-progress';
import { LATENCY, REQUESTS } from './metric-queries';
import type { DemoUser } from './token';

/** The dashboard's own channel: its viewers' presence and cursors, apart from the board's. */
export const DASHBOARD = 'demo:dashboard';

interface Progress {
  job: string;
  pct: number;
  by: string;
}

/** The value of a statistic in the newest complete bucket (the current second is still filling), or null. */
function latest(snapshot: MetricSnapshot | undefined, stat: 'rate' | 'p95'): number | null {
  const s = snapshot?.series[0];
  const values = s?.stats[stat];
  if (!s || !values) return null;
  for (let i = s.t.length - 2; i >= 0; i--) {
    const v = values[i] as number;
    if (Number.isFinite(v)) return v;
  }
  return null;
}

/**
 * A small shared dashboard (the import job's progress and the demo generator's latest load), open
 * while its viewer wants it: mounting it subscribes to `demo:dashboard`, so its viewers (and
 * only they) see each other's avatars and cursors over it; closing it leaves.
 */
export function Dashboard({ who }: { who: DemoUser }): ReactNode {
  const { update } = useMyPresence<{ name: string }>(DASHBOARD);
  const progress = useLatest<Progress>(PROGRESS, 'import', { keyPath: 'job' });
  // The charts' own queries: one subscription each, shared with them.
  const requests = useMetric(REQUESTS);
  const latency = useMetric(LATENCY);

  useEffect(() => {
    void update({ name: who.name }).catch(() => undefined);
  }, [update, who.name]);

  const pct = progress.data?.pct ?? 0;
  const rps = latest(requests.data, 'rate');
  const p95 = latest(latency.data, 'p95');
  return (
    <div className="demo-dashboard-wrap">
      <div className="demo-row">
        <span>Viewing now:</span>
        <div data-testid="dashboard-viewers">
          <AvatarStack channel={DASHBOARD} max={8} className="demo-avatars demo-viewers" />
        </div>
      </div>
      <LiveCursors channel={DASHBOARD} throttleMs={30} className="demo-dashboard">
        <dl className="demo-dashboard-figures">
          <dt>Import job</dt>
          <dd>
            <progress data-testid="dashboard-progress" max={100} value={pct} aria-label="Import job progress (dashboard)" /> {pct}%
          </dd>
          <dt>Live load</dt>
          <dd data-testid="dashboard-load">{rps === null || p95 === null ? 'no values yet' : `${Math.round(rps)} req/s, p95 ${Math.round(p95)} ms`}</dd>
        </dl>
        <p className="demo-board-hint">Every viewer of this dashboard sees your pointer here.</p>
      </LiveCursors>
    </div>
  );
}
