import { describe, expect, it } from 'vitest';
import { parseWhen, recipientsOf } from '../../../src/features/metrics/alert-rules.js';
import { metricsConfig } from '../../../src/features/metrics/config.js';

/** Alert rules as the config declares them: the `when` string, the cross-checks with their messages, the recipients. */

const SERIES = {
  'api.latency_ms': { kind: 'distribution', labels: ['route', 'platform'] },
  'queue.depth': { kind: 'gauge' },
};
const RULE = { name: 'r', series: 'api.latency_ms', stat: 'p95', warning: 200, critical: 500 };

/** The messages of a metrics section that does not parse (empty when it parses). */
function problems(section: Record<string, unknown>): string[] {
  const parsed = metricsConfig.safeParse({ series: SERIES, ...section });
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('alert rules in the config', () => {
  it('reads a when string: statistic, series, labels, direction, warning threshold and duration', () => {
    expect(parseWhen('p95(api.latency_ms) > 200 for 30s')).toEqual({
      series: 'api.latency_ms',
      labels: {},
      stat: 'p95',
      direction: 'above',
      warning: 200,
      for: '30s',
    });
    expect(parseWhen(' max(api.latency_ms{route="/login", platform=ios}) < -1.5e2 ')).toEqual({
      series: 'api.latency_ms',
      labels: { route: '/login', platform: 'ios' },
      stat: 'max',
      direction: 'below',
      warning: -150,
      for: 0,
    });
    for (const bad of ['p95 api.latency_ms > 200', 'p95(api.latency_ms) >= 200', 'p95(api.latency_ms{route}) > 1', 'p95(api.latency_ms) > 200 for', '']) {
      expect(parseWhen(bad), bad).toBeNull();
    }
  });

  it('takes a rule with when, fills in the defaults, and refuses a when beside the fields it gives', () => {
    const cfg = metricsConfig.parse({ series: SERIES, alerts: [{ name: 'login', when: 'p95(api.latency_ms{route=/login}) > 200 for 30s', critical: 500 }] });
    expect(cfg.alerts).toEqual([
      {
        name: 'login',
        series: 'api.latency_ms',
        labels: { route: '/login' },
        stat: 'p95',
        resolution: '1s',
        direction: 'above',
        warning: 200,
        critical: 500,
        for: 30_000,
        hysteresis: 0,
        scope: 'system:alerts',
        notify: { users: [], roles: [] },
      },
    ]);
    expect(problems({ alerts: [{ name: 'x', when: 'p95(api.latency_ms) > 200', stat: 'max' }] })).toEqual([
      'alerts.0.when: give either when or stat, not both',
    ]);
    expect(problems({ alerts: [{ name: 'x', when: 'p95 > 200' }] })).toEqual([
      'alerts.0.when: expected a condition like "p95(api.latency_ms{route=/login}) > 200 for 30s", got "p95 > 200"',
    ]);
    expect(problems({ alerts: [{ name: 'x', when: 'p42(api.latency_ms) > 200' }] })[0]).toMatch(/^alerts\.0\.stat: /);
  });

  it('refuses each inconsistent rule with a message naming the rule and the field', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...RULE, series: 'nope' }, 'alerts.0.series: rule r: no series nope is declared in metrics.series'],
      [{ ...RULE, labels: { region: 'eu' } }, 'alerts.0.labels: rule r: label region is not declared for api.latency_ms'],
      [{ ...RULE, series: 'queue.depth', stat: 'rate' }, 'alerts.0.stat: rule r: rate is a statistic of counters; queue.depth is a gauge'],
      [{ name: 'r', series: 'api.latency_ms', stat: 'p95' }, 'alerts.0.warning: rule r: give a warning or a critical threshold (or both)'],
      [{ ...RULE, warning: 600 }, 'alerts.0.critical: rule r: critical must be above warning for a rule above its thresholds'],
      [{ ...RULE, direction: 'below' }, 'alerts.0.critical: rule r: critical must be below warning for a rule below its thresholds'],
      [{ ...RULE, notify: { roles: ['oncall'] } }, 'alerts.0.notify: rule r: no role oncall in metrics.alertRoles'],
    ];
    for (const [rule, message] of cases) expect(problems({ alerts: [rule] }), message).toEqual([message]);
    expect(problems({ alerts: [RULE, RULE] })).toEqual(['alerts.1.name: rule r: another rule has this name']);
    expect(problems({ alerts: [{ ...RULE, hysteresis: -1 }] })[0]).toMatch(/^alerts\.0\.hysteresis: /);
    expect(problems({ alerts: [{ ...RULE, resolution: '5s' }] })[0]).toMatch(/^alerts\.0\.resolution: /);
    expect(problems({ alerts: [{ ...RULE, for: 'soon' }] })[0]).toMatch(/^alerts\.0\.for: /);
    expect(problems({ alerts: [{ ...RULE, warning: Number.NaN }] })[0]).toMatch(/^alerts\.0\.warning: /);
  });

  it("takes a rule over the server's own figures only with the tenant that receives it, and reserves their names", () => {
    const system = { name: 'lag', series: 'sb.event_loop_lag_ms', labels: { node: 'a' }, stat: 'max', warning: 100 };
    expect(problems({ alerts: [{ ...system, tenant: 'ops' }] })).toEqual([]);
    expect(problems({ alerts: [system] })).toEqual([
      "alerts.0.tenant: rule lag: sb.event_loop_lag_ms is a series of the server's own: name the tenant that receives the transitions",
    ]);
    expect(problems({ alerts: [{ ...system, tenant: 'ops', labels: { route: '/' } }] })).toEqual([
      'alerts.0.labels: rule lag: label route is not declared for sb.event_loop_lag_ms',
    ]);
    expect(problems({ alerts: [{ ...RULE, tenant: 'ops' }] })).toEqual([
      "alerts.0.tenant: rule r: only a rule over a series of the server's own (sb.*) names a tenant",
    ]);
    expect(problems({ alerts: [{ ...system, tenant: '*system' }] })[0]).toMatch(/^alerts\.0\.tenant: /);
    expect(problems({ series: { ...SERIES, 'sb.mine': { kind: 'gauge' } } })[0]).toMatch(/^series\.sb\.mine: /);
  });

  it('notifies the users named and the members of the roles, once each; the role everyone is every user', () => {
    const cfg = metricsConfig.parse({
      series: SERIES,
      alertRoles: { oncall: ['bob', 'ann'], leads: ['carol'] },
      alerts: [
        { ...RULE, notify: { users: ['ann'], roles: ['oncall', 'leads'] } },
        { ...RULE, name: 'all', notify: { users: ['ann'], roles: ['everyone'] } },
      ],
    });
    expect(recipientsOf(cfg.alerts[0] as never, cfg.alertRoles)).toEqual(['ann', 'bob', 'carol']);
    expect(recipientsOf(cfg.alerts[1] as never, cfg.alertRoles)).toBe('everyone');
  });
});
