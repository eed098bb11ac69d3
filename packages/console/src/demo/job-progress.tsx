import { activity } from '@switchboard/client/activity';
import { useClient, useLatest, usePublish } from '@switchboard/react';
import { type ReactNode, useEffect, useRef, useState } from 'react';
import type { DemoUser } from './token';

/** The conflated channel of job progress: the `demo` namespace keeps the latest value per `job` per 100 ms window. */
export const PROGRESS = 'demo:progress';
const JOB = 'import';
const STEP = 2;
const TICK_MS = 60;

interface Progress {
  job: string;
  pct: number;
  by: string;
}

/**
 * A live progress bar on a conflated channel (`useLatest`): whoever runs the job publishes
 * its progress every 60 ms; everyone sees the latest value, at most one per 100 ms window.
 */
export function JobProgress({ who }: { who: DemoUser }): ReactNode {
  const client = useClient();
  const { data, isLoading } = useLatest<Progress>(PROGRESS, JOB, { keyPath: 'job' });
  const publish = usePublish<Progress>(PROGRESS);
  const timer = useRef<ReturnType<typeof setInterval> | null>(null);
  const [running, setRunning] = useState(false);

  useEffect(
    () => () => {
      if (timer.current) clearInterval(timer.current);
    },
    [],
  );

  const run = () => {
    if (timer.current) return;
    let pct = 0;
    setRunning(true);
    if (client)
      void activity(client, 'demo:board')
        .record({ verb: 'ran', object: `job:${JOB}` })
        .catch(() => undefined);
    timer.current = setInterval(() => {
      pct = Math.min(100, pct + STEP);
      void publish({ job: JOB, pct, by: who.name }).catch(() => undefined);
      if (pct >= 100 && timer.current) {
        clearInterval(timer.current);
        timer.current = null;
        setRunning(false);
      }
    }, TICK_MS);
  };

  const pct = data?.pct ?? 0;
  return (
    <div className="demo-job">
      <progress data-testid="job-progress" max={100} value={pct} aria-label="Import job progress" />
      <p role="status" data-testid="job-status">
        {isLoading ? 'Loading…' : data ? `${pct}% (run by ${data.by})` : 'Not run yet'}
      </p>
      <button type="button" data-testid="job-run" onClick={run} disabled={running}>
        {running ? 'Running…' : 'Run the import job'}
      </button>
    </div>
  );
}
