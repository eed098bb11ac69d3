import { expect } from 'vitest';
import type { DurableServer } from '../../durable/helpers.js';

/** Helpers of the alert tests: a rule over p95 of a series, points a second at a time, and reads of health, activities and notifications. */

/** A whole minute, so every resolution's buckets start here. */
export const T0 = 1_700_000_040_000;

export const ALERT_SERIES = { 'api.latency_ms': { kind: 'distribution', unit: 'ms', labels: ['route'] } };

export const LATENCY_RULE = {
  name: 'login-latency',
  series: 'api.latency_ms',
  labels: { route: '/login' },
  stat: 'p95',
  resolution: '1s',
  warning: 200,
  critical: 500,
  for: '3s',
  hysteresis: 20,
  notify: { users: ['ann'], roles: ['oncall'] },
};

/** The `metrics` section of the alert tests; the rule is evaluated only when a test asks (`alertInterval: 0`). */
export const alertsConfig = (extra: Record<string, unknown> = {}) => ({
  series: ALERT_SERIES,
  alerts: [LATENCY_RULE],
  alertRoles: { oncall: ['bob'] },
  alertInterval: 0,
  ...extra,
});

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in the tests
type Answer = any;

export interface Tenant {
  key: string;
  tenant: string;
}

export const as = (s: DurableServer, tenant = 'acme'): Tenant => ({ key: s.apiKey, tenant });

/** Two points of `value` in the 1 s bucket starting at `start`, for tenant `t`. */
export async function ingestSecond(s: DurableServer, t: Tenant, start: number, value: number): Promise<void> {
  const res = await s.api('POST', '/metrics/points', {
    ...t,
    body: { series: 'api.latency_ms', labels: { route: '/login' }, ts: [start + 100, start + 600], values: [value, value] },
  });
  expect(res.status, res.text).toBe(200);
}

/** Run one evaluation of every rule on this node (as the timer would). */
export async function evaluate(s: DurableServer): Promise<void> {
  await s.server.feature<{ alerts: { tick(): Promise<void> } }>('metrics').alerts.tick();
}

export async function health(s: DurableServer, t: Tenant): Promise<Answer> {
  const res = await s.api('GET', '/metrics/health', t);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

/** The verbs of the alert activities of a tenant, oldest first. */
export async function alertActivities(s: DurableServer, t: Tenant): Promise<Answer[]> {
  const res = await s.api('GET', '/activities?scope=system:alerts&limit=100', t);
  expect(res.status, res.text).toBe(200);
  return (res.body['activities'] as Answer[]).filter((a) => a.actor === 'metrics').reverse();
}

/** The `performance` notifications of a user, oldest first. */
export async function performanceNotes(s: DurableServer, t: Tenant, user: string): Promise<Answer[]> {
  const res = await s.api('GET', `/notifications?user=${user}&limit=100`, t);
  expect(res.status, res.text).toBe(200);
  return (res.body['notifications'] as Answer[]).filter((n) => n.type === 'performance').reverse();
}
