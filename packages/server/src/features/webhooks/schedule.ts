/** An attempt that did not succeed, with what the retry schedule needs to know. */
export class DeliveryFailure extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryAfterMs: number | null,
  ) {
    super(message);
  }
}

/** Answers that mean "overloaded": the next retry waits twice as long. */
const SLOWER = new Set([429, 502, 504]);
/** A Retry-After further than this is capped (a receiver cannot park a message for months). */
const MAX_RETRY_AFTER = 24 * 3600_000;

/**
 * The wait before the next attempt after `attempts` failed ones, or null when the schedule
 * is exhausted (the message fails: the dead-letter list). The schedule's wait (±20 % jitter;
 * doubled for 429, 502, 504), or the answer's Retry-After when that is later.
 */
export function retryDelay(attempts: number, schedule: readonly number[], failure: unknown, random: () => number): number | null {
  const base = schedule[attempts - 1];
  if (base === undefined) return null;
  const status = failure instanceof DeliveryFailure ? failure.status : null;
  const slower = status !== null && SLOWER.has(status) ? 2 : 1;
  const wait = Math.round(base * slower * (0.8 + 0.4 * random()));
  const retryAfter = failure instanceof DeliveryFailure && failure.retryAfterMs !== null ? Math.min(failure.retryAfterMs, MAX_RETRY_AFTER) : 0;
  return Math.max(wait, retryAfter);
}

/** The wait before a failing endpoint's next probe: the probe interval, or the answer's Retry-After when that is later. */
export function probeWait(interval: number, retryAfterMs: number | null): number {
  return Math.max(interval, retryAfterMs === null ? 0 : Math.min(retryAfterMs, MAX_RETRY_AFTER));
}
