import { AvatarStack, LiveCursors, useChannel, useLatest, useMyPresence } from '@switchboard/react';
import { type ReactNode, useEffect } from 'react';
import { PROGRESS } from './job-progress';
import type { DemoUser } from './token';

/** The live load's channel (as in load-chart.tsx, kept apart so this panel does not pull in the chart's chunk). */
const LOAD = 'demo:load';

/** The dashboard's own channel: its viewers' presence and cursors, apart from the board's. */
export const DASHBOARD = 'demo:dashboard';

interface Progress {
  job: string;
  pct: number;
  by: string;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * A small shared dashboard (the import job's progress and the latest generated load), open
 * while its viewer wants it: mounting it subscribes to `demo:dashboard`, so its viewers (and
 * only they) see each other's avatars and cursors over it; closing it leaves.
 */
export function Dashboard({ who }: { who: DemoUser }): ReactNode {
  const { update } = useMyPresence<{ name: string }>(DASHBOARD);
  const progress = useLatest<Progress>(PROGRESS, 'import', { keyPath: 'job' });
  const load = useChannel<{ rps?: unknown; p95?: unknown }>(LOAD);

  useEffect(() => {
    void update({ name: who.name }).catch(() => undefined);
  }, [update, who.name]);

  const pct = progress.data?.pct ?? 0;
  const last = load.data?.last?.data;
  const rps = num(last?.rps);
  const p95 = num(last?.p95);
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
          <dd data-testid="dashboard-load">{rps === null || p95 === null ? 'no samples yet' : `${Math.round(rps)} req/s, p95 ${Math.round(p95)} ms`}</dd>
        </dl>
        <p className="demo-board-hint">Every viewer of this dashboard sees your pointer here.</p>
      </LiveCursors>
    </div>
  );
}
