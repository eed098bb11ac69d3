/**
 * The state machine of one alert rule over one tenant's series, pure: a sample (one bucket's
 * statistic) in, the next state and at most one transition out. No clock, no I/O; the caller
 * feeds the complete buckets in time order (alerts.ts) and stores what comes out.
 *
 * States: `ok` → `warning` → `critical` → `resolved` (→ `ok`). Reaching a level needs its
 * threshold breached by every bucket for `for` ms (from the start of the first breaching bucket
 * to the end of the latest); staying at a level, or stepping down to a lower one, needs only
 * the breach. Once a level is held, its threshold moves back by `hysteresis` (a rule `above 200`
 * with hysteresis 20 stays in warning down to 180 and resolves at 180 or below), so a value
 * wobbling around a threshold neither fires nor resolves twice. `resolved` turns into `ok`
 * silently (no transition) once `for` (at least one bucket) has passed without a breach.
 *
 * A bucket without a value (no points, for a statistic other than count, sum and rate) keeps
 * the state and restarts the durations still pending: it neither fires nor resolves.
 */

export type AlertLevel = 'ok' | 'warning' | 'critical' | 'resolved';
export type Severity = 'warning' | 'critical';

/** What the machine needs of a rule. */
export interface AlertThresholds {
  warning?: number | undefined;
  critical?: number | undefined;
  direction: 'above' | 'below';
  /** ms a threshold must be breached before its level is reached. */
  for: number;
  hysteresis: number;
}

/** One complete bucket's statistic: the bucket [start, end), its value (null: no value). */
export interface AlertSample {
  start: number;
  end: number;
  value: number | null;
}

export interface AlertState {
  state: AlertLevel;
  /** When the state last changed (the end of the bucket that changed it); null before any change. */
  since: number | null;
  /** The statistic of the latest bucket evaluated. */
  value: number | null;
  /** The end of the latest bucket evaluated: older or equal samples change nothing. */
  evaluatedAt: number | null;
  /** The start of the first bucket of the current unbroken breach of each threshold, or null. */
  warningSince: number | null;
  criticalSince: number | null;
  /** Transitions so far (the number of the latest one). */
  seq: number;
}

export interface AlertTransition {
  seq: number;
  from: AlertLevel;
  to: Exclude<AlertLevel, 'ok'>;
  /** The end of the bucket that caused it. */
  at: number;
  value: number;
  /** The threshold crossed: the level's own, or for `resolved` the lowest one held, less the hysteresis. */
  threshold: number;
}

export const INITIAL_ALERT_STATE: Readonly<AlertState> = Object.freeze({
  state: 'ok',
  since: null,
  value: null,
  evaluatedAt: null,
  warningSince: null,
  criticalSince: null,
  seq: 0,
});

const RANK: Readonly<Record<AlertLevel, number>> = { ok: 0, resolved: 0, warning: 1, critical: 2 };

/** Whether `value` breaches `threshold`, moved back by `slack` (the hysteresis of a level held). */
function breaches(rule: AlertThresholds, value: number, threshold: number | undefined, slack: number): boolean {
  if (threshold === undefined) return false;
  return rule.direction === 'above' ? value > threshold - slack : value < threshold + slack;
}

/** The next state after one sample, and the transition it caused if any. */
export function stepAlert(rule: AlertThresholds, state: AlertState, sample: AlertSample): { state: AlertState; transition: AlertTransition | null } {
  if (state.evaluatedAt !== null && sample.end <= state.evaluatedAt) return { state, transition: null };
  const next: AlertState = { ...state, value: sample.value, evaluatedAt: sample.end };
  const { value } = sample;
  if (value === null) return { state: { ...next, warningSince: null, criticalSince: null }, transition: null };

  const held = RANK[state.state];
  const breachW = breaches(rule, value, rule.warning, held >= RANK.warning ? rule.hysteresis : 0);
  const breachC = breaches(rule, value, rule.critical, held >= RANK.critical ? rule.hysteresis : 0);
  next.warningSince = breachW ? (state.warningSince ?? sample.start) : null;
  next.criticalSince = breachC ? (state.criticalSince ?? sample.start) : null;
  const reached = (level: Severity, breach: boolean, since: number | null): boolean =>
    breach && (held >= RANK[level] || (since !== null && sample.end - since >= rule.for));
  const want: Severity | null = reached('critical', breachC, next.criticalSince)
    ? 'critical'
    : reached('warning', breachW, next.warningSince)
      ? 'warning'
      : null;

  if (want !== null && want !== state.state) return moved(next, state, want, sample.end, value, want === 'critical' ? rule.critical : rule.warning);
  if (want === null && held > 0) {
    const lowest = rule.warning ?? rule.critical ?? 0;
    const edge = rule.direction === 'above' ? lowest - rule.hysteresis : lowest + rule.hysteresis;
    return moved(next, state, 'resolved', sample.end, value, edge);
  }
  if (want === null && state.state === 'resolved' && state.since !== null && sample.end - state.since >= Math.max(rule.for, 1))
    return { state: { ...next, state: 'ok', since: sample.end }, transition: null };
  return { state: next, transition: null };
}

function moved(
  next: AlertState,
  prev: AlertState,
  to: Exclude<AlertLevel, 'ok'>,
  at: number,
  value: number,
  threshold: number | undefined,
): { state: AlertState; transition: AlertTransition } {
  const seq = prev.seq + 1;
  return {
    state: { ...next, state: to, since: at, seq },
    transition: { seq, from: prev.state, to, at, value, threshold: threshold ?? 0 },
  };
}
