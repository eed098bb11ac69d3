import { describe, expect, it } from 'vitest';
import {
  type AlertLevel,
  type AlertState,
  type AlertThresholds,
  type AlertTransition,
  INITIAL_ALERT_STATE,
  stepAlert,
} from '../../../src/features/metrics/alert-machine.js';

/**
 * The alert state machine alone, fed one 1 s bucket at a time (the bucket's end is the
 * machine's clock): durations, escalation, hysteresis and resolution, each transition once.
 */

const RULE: AlertThresholds = { warning: 200, critical: 500, direction: 'above', for: 3000, hysteresis: 20 };

/** Feeds `values` as consecutive 1 s buckets from `t0`; returns the transitions and the states after each bucket. */
function run(rule: AlertThresholds, values: Array<number | null>, start: AlertState = INITIAL_ALERT_STATE, t0 = 0) {
  let state = start;
  const transitions: AlertTransition[] = [];
  const states: AlertLevel[] = [];
  values.forEach((value, i) => {
    const step = stepAlert(rule, state, { start: t0 + i * 1000, end: t0 + (i + 1) * 1000, value });
    state = step.state;
    if (step.transition) transitions.push(step.transition);
    states.push(state.state);
  });
  return { state, transitions, states };
}

describe('alert state machine', () => {
  it('fires nothing while the warning threshold is breached for less than the duration', () => {
    const { transitions, states } = run(RULE, [100, 250, 260, 100, 250, 250, 150]);
    expect(transitions).toEqual([]);
    expect(states.every((s) => s === 'ok')).toBe(true);
  });

  it('fires exactly one warning once breached for the duration, and none while it stays', () => {
    const { transitions, state } = run(RULE, [250, 250, 250, 250, 300, 260, 250]);
    expect(transitions).toEqual([{ seq: 1, from: 'ok', to: 'warning', at: 3000, value: 250, threshold: 200 }]);
    expect(state).toMatchObject({ state: 'warning', since: 3000, value: 250, evaluatedAt: 7000, seq: 1 });
  });

  it('escalates to critical once, after the duration above critical', () => {
    const { transitions } = run(RULE, [250, 250, 250, 600, 600, 600, 700, 650]);
    expect(transitions.map((t) => [t.from, t.to, t.at])).toEqual([
      ['ok', 'warning', 3000],
      ['warning', 'critical', 6000],
    ]);
  });

  it('goes straight to critical when the value jumps above it for the duration', () => {
    const { transitions } = run(RULE, [600, 600, 600, 600]);
    expect(transitions.map((t) => [t.from, t.to])).toEqual([['ok', 'critical']]);
  });

  it('resolves once below the threshold minus the hysteresis, and never inside the band', () => {
    const high = run(RULE, [250, 250, 250]).state;
    // 190 and 185 are inside the band (above 200 − 20): still warning.
    const band = run(RULE, [190, 185, 210, 181, 199], high, 3000);
    expect(band.transitions).toEqual([]);
    expect(band.state.state).toBe('warning');
    const down = run(RULE, [180, 100, 100, 150], band.state, 8000);
    expect(down.transitions).toEqual([{ seq: 2, from: 'warning', to: 'resolved', at: 9000, value: 180, threshold: 180 }]);
  });

  it('steps down from critical to warning inside the warning band, then resolves', () => {
    const crit = run(RULE, [600, 600, 600]).state;
    const { transitions } = run(RULE, [490, 300, 150], crit, 3000);
    // 490 is inside critical's band (above 480): no change; 300 steps down at once; 150 resolves.
    expect(transitions.map((t) => [t.from, t.to, t.at])).toEqual([
      ['critical', 'warning', 5000],
      ['warning', 'resolved', 6000],
    ]);
  });

  it('does not flap: a value wobbling across the threshold inside the band changes nothing', () => {
    const high = run(RULE, [300, 300, 300]).state;
    const wobble = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 195 : 205));
    const { transitions, state } = run(RULE, wobble, high, 3000);
    expect(transitions).toEqual([]);
    expect(state.state).toBe('warning');
  });

  it('turns resolved into ok silently after the duration, and fires again only after the full duration', () => {
    const resolved = run(RULE, [250, 250, 250, 100]);
    expect(resolved.state.state).toBe('resolved');
    const later = run(RULE, [100, 100, 100, 250, 250, 250], resolved.state, 4000);
    expect(later.states).toEqual(['resolved', 'resolved', 'ok', 'ok', 'ok', 'warning']);
    expect(later.transitions.map((t) => [t.seq, t.from, t.to])).toEqual([[3, 'ok', 'warning']]);
  });

  it('holds its state through buckets without a value and restarts pending durations', () => {
    const { transitions, state } = run(RULE, [250, 250, null, 250, 250, null, 250]);
    expect(transitions).toEqual([]);
    expect(state.state).toBe('ok');
    const warned = run(RULE, [250, 250, 250]).state;
    const gap = run(RULE, [null, null, 195], warned, 3000);
    expect(gap.transitions).toEqual([]);
    expect(gap.state.state).toBe('warning');
  });

  it('ignores a bucket it has already evaluated', () => {
    const once = run(RULE, [250, 250, 250]).state;
    const again = stepAlert(RULE, once, { start: 2000, end: 3000, value: 900 });
    expect(again).toEqual({ state: once, transition: null });
  });

  it('watches a rule below its thresholds, with the hysteresis upwards', () => {
    const below: AlertThresholds = { warning: 50, critical: 10, direction: 'below', for: 0, hysteresis: 5 };
    const { transitions } = run(below, [60, 40, 54, 5, 12, 20, 56]);
    // 12 is inside critical's band (below 10 + 5): still critical; 20 steps down.
    expect(transitions.map((t) => [t.from, t.to, t.threshold])).toEqual([
      ['ok', 'warning', 50],
      ['warning', 'critical', 10],
      ['critical', 'warning', 50],
      ['warning', 'resolved', 55],
    ]);
  });

  it('with only a critical threshold, goes ok → critical → resolved', () => {
    const only: AlertThresholds = { critical: 500, direction: 'above', for: 0, hysteresis: 0 };
    const { transitions } = run(only, [100, 600, 700, 500]);
    expect(transitions.map((t) => [t.from, t.to])).toEqual([
      ['ok', 'critical'],
      ['critical', 'resolved'],
    ]);
  });
});
