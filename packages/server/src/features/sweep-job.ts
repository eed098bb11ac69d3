import type { Logger } from 'pino';
import type { FeatureJobs } from './scoped-jobs.js';

export interface SweepJob {
  /** The job kind within the feature (`sweep` unless the feature has several). */
  kind?: string;
  /** What the log lines say it is: `notifications retention sweep`. */
  what: string;
  /** The interval (ms) from the start of one run to the next, read at every run; 0: only at start. */
  every: () => number;
  /** One run: how many rows it dealt with, by what they are (logged when any is not 0). */
  run: () => Promise<Record<string, number>>;
  /** The log field of those counts (default `deleted`). */
  logAs?: string;
}

/**
 * A feature's periodic sweep as a recurring job of the job runner: one job (one row) for the
 * cluster, run by one node at a time under its lease, due again `every` ms after each run
 * began, kept across restarts. A node that starts sweeps once itself before it serves (as
 * the sweeps always did, so what is due goes before the first request) and sets the job due
 * one interval after that. A run that fails is logged and the next one is due as usual, so
 * a sweep never stops for good.
 */
export async function scheduleSweep(jobs: FeatureJobs, logger: Logger, now: () => number, sweep: SweepJob): Promise<void> {
  const kind = sweep.kind ?? 'sweep';
  const run = async () => {
    try {
      const counts = await sweep.run();
      if (Object.values(counts).some((n) => n > 0)) logger.info({ [sweep.logAs ?? 'deleted']: counts }, sweep.what);
      return counts;
    } catch (err) {
      logger.warn({ err }, `${sweep.what} failed`);
      return { failed: err instanceof Error ? err.message : String(err) };
    }
  };
  jobs.handle(kind, run, { every: sweep.every });
  await run();
  const every = sweep.every();
  if (every > 0) await jobs.recur(kind, now() + every);
}
