import { ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DurableServer, expectApiError, STORES, startDurableServer } from '../../durable/helpers.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { alertActivities, alertsConfig, as, evaluate, health, performanceNotes, T0 } from './alerts-helpers.js';

/**
 * Alert rules a tenant declares over HTTP: they watch that tenant only (another tenant's
 * points never move them, and its health and rule list never show them), they are evaluated
 * and announced like the config's rules, and every refused rule has its code and stores
 * nothing.
 */

const CHECKOUT = { series: 'api.latency_ms', labels: { route: '/checkout' }, stat: 'max', critical: 1000, notify: { users: ['dan'] } };

describe.each(STORES)('alert rules of a tenant over HTTP on %s', (store) => {
  const clock = new ManualClock(T0);
  let s: DurableServer;
  let next = T0;

  const put = (tenant: string, name: string, body: unknown) => s.api('PUT', `/metrics/alerts/${name}`, { ...as(s, tenant), body });
  const names = async (tenant: string) => ((await s.api('GET', '/metrics/alerts', as(s, tenant))).body['rules'] as Array<{ name: string }>).map((r) => r.name);

  /** One second of /checkout points for each tenant given, the clock past it, one evaluation. */
  async function second(values: Record<string, number>): Promise<void> {
    for (const [tenant, value] of Object.entries(values)) {
      const res = await s.api('POST', '/metrics/points', {
        ...as(s, tenant),
        body: { series: 'api.latency_ms', labels: { route: '/checkout' }, ts: [next + 100], values: [value] },
      });
      expect(res.status, res.text).toBe(200);
    }
    next += 1000;
    clock.advanceTo(next + 1);
    await evaluate(s);
  }

  beforeAll(async () => {
    s = await startDurableServer(store, { now: clock.now, metrics: alertsConfig({ maxAlertRules: 2 }) });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('stores a rule of the tenant, listed and in health for that tenant only', async () => {
    const created = await put('other', 'checkout-max', CHECKOUT);
    expect(created.status, created.text).toBe(200);
    expect(created.body).toMatchObject({ created: true, rule: { name: 'checkout-max', source: 'tenant', resolution: '1s', for: 0, direction: 'above' } });
    expect((await put('other', 'checkout-max', { ...CHECKOUT, critical: 900 })).body).toMatchObject({ created: false, rule: { critical: 900 } });
    expect(await names('other')).toEqual(['login-latency', 'checkout-max']);
    expect(await names('acme')).toEqual(['login-latency']);
    expect((await health(s, as(s, 'other'))).rules.map((r: { name: string; source: string }) => [r.name, r.source])).toEqual([
      ['login-latency', 'config'],
      ['checkout-max', 'tenant'],
    ]);
    expect((await health(s, as(s, 'acme'))).rules.map((r: { name: string }) => r.name)).toEqual(['login-latency']);
  });

  it("is moved by its own tenant's points only, and announced once", async () => {
    // acme's /checkout points are far above the threshold: acme has no such rule, other has no points yet.
    await second({ acme: 5000 });
    await second({ acme: 5000 });
    expect((await health(s, as(s, 'other'))).rules[1]).toMatchObject({ name: 'checkout-max', state: 'ok', evaluatedAt: null });
    expect(await alertActivities(s, as(s, 'acme'))).toEqual([]);
    await second({ acme: 5000, other: 950 });
    await second({ acme: 10, other: 990 });
    expect((await alertActivities(s, as(s, 'other'))).map((a) => [a.verb, a.object])).toEqual([['alert.critical', 'alert:checkout-max']]);
    expect((await performanceNotes(s, as(s, 'other'), 'dan')).map((n) => [n.title, n.priority])).toEqual([['checkout-max: critical', 'critical']]);
    expect(await performanceNotes(s, as(s, 'acme'), 'dan')).toEqual([]);
    expect(await health(s, as(s, 'other'))).toMatchObject({ state: 'critical', summary: { ok: 1, warning: 0, critical: 1 } });
    expect(await health(s, as(s, 'acme'))).toMatchObject({ state: 'ok', summary: { ok: 1, warning: 0, critical: 0 } });
  });

  it('refuses every inconsistent rule with its code, storing nothing', async () => {
    const cases: Array<[unknown, number, number, string?]> = [
      [{ ...CHECKOUT, series: 'nope' }, 422, ErrorCode.UnknownSeries.code],
      [{ ...CHECKOUT, labels: { region: 'eu' } }, 422, ErrorCode.UnknownLabel.code],
      [{ ...CHECKOUT, stat: 'rate' }, 422, ErrorCode.InvalidAlertRule.code],
      [{ ...CHECKOUT, critical: undefined }, 422, ErrorCode.InvalidAlertRule.code],
      [{ ...CHECKOUT, warning: 2000 }, 422, ErrorCode.InvalidAlertRule.code],
      [{ ...CHECKOUT, notify: { roles: ['nobody'] } }, 422, ErrorCode.InvalidAlertRule.code],
      [{ ...CHECKOUT, scope: 'nowhere:ops' }, 422, ErrorCode.InvalidAlertRule.code],
      [{ ...CHECKOUT, scope: 'activity:ops' }, 422, ErrorCode.InvalidAlertRule.code],
      [{ ...CHECKOUT, stat: 'p42' }, 400, ErrorCode.BadRequest.code],
      [{ ...CHECKOUT, hysteresis: -1 }, 400, ErrorCode.BadRequest.code],
      [{ ...CHECKOUT, for: 'soon' }, 400, ErrorCode.BadRequest.code],
      [{ ...CHECKOUT, extra: 1 }, 400, ErrorCode.BadRequest.code],
    ];
    for (const [body, status, code] of cases) expectApiError(await put('acme', 'bad', body), status, code);
    expectApiError(await put('acme', 'login-latency', CHECKOUT), 422, ErrorCode.InvalidAlertRule.code, /configuration/);
    expectApiError(await put('acme', 'bad name!', CHECKOUT), 400, ErrorCode.BadRequest.code);
    expect(await names('acme')).toEqual(['login-latency']);
  });

  it('holds at most maxAlertRules rules of a tenant, and removes one with its state', async () => {
    expect((await put('other', 'second', CHECKOUT)).status).toBe(200);
    expectApiError(await put('other', 'third', CHECKOUT), 422, ErrorCode.AlertRuleLimit.code);
    // Replacing one at the cap is fine; another tenant is not held back.
    expect((await put('other', 'second', { ...CHECKOUT, critical: 2000 })).status).toBe(200);
    expect((await put('demo', 'third', CHECKOUT)).status).toBe(200);
    expectApiError(await s.api('DELETE', '/metrics/alerts/login-latency', as(s, 'other')), 404, ErrorCode.NotFound.code);
    expect((await s.api('DELETE', '/metrics/alerts/checkout-max', as(s, 'other'))).body).toEqual({ deleted: true });
    expectApiError(await s.api('DELETE', '/metrics/alerts/checkout-max', as(s, 'other')), 404, ErrorCode.NotFound.code);
    expect(await names('other')).toEqual(['login-latency', 'second']);
    // A rule put again under the deleted name starts from ok.
    expect((await put('other', 'checkout-max', CHECKOUT)).body).toMatchObject({ created: true });
    expect((await health(s, as(s, 'other'))).rules.find((r: { name: string }) => r.name === 'checkout-max')).toMatchObject({ state: 'ok', since: null });
  });
});

describe.each(STORES)('an alert rule on a series the tenant declared over HTTP, on %s', (store) => {
  const clock = new ManualClock(T0);
  let s: DurableServer;

  beforeAll(async () => {
    s = await startDurableServer(store, { now: clock.now, metrics: alertsConfig() });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("is accepted for that tenant only and moved by the tenant's points", async () => {
    const declared = await s.api('PUT', '/metrics/series/jobs.queue_ms', { ...as(s, 'other'), body: { kind: 'gauge', labels: ['queue'] } });
    expect(declared.status, declared.text).toBe(200);
    const rule = { series: 'jobs.queue_ms', labels: { queue: 'mail' }, stat: 'max', critical: 100, notify: { users: ['dan'] } };
    // Another tenant has no such series: the same rule is refused there.
    expectApiError(await s.api('PUT', '/metrics/alerts/queue-slow', { ...as(s, 'acme'), body: rule }), 422, ErrorCode.UnknownSeries.code);
    const put = await s.api('PUT', '/metrics/alerts/queue-slow', { ...as(s, 'other'), body: rule });
    expect(put.status, put.text).toBe(200);
    let next = T0;
    for (const value of [500, 700]) {
      const res = await s.api('POST', '/metrics/points', {
        ...as(s, 'other'),
        body: { series: 'jobs.queue_ms', labels: { queue: 'mail' }, ts: [next + 100], values: [value] },
      });
      expect(res.status, res.text).toBe(200);
      next += 1000;
      clock.advanceTo(next + 1);
      await evaluate(s);
    }
    expect((await alertActivities(s, as(s, 'other'))).map((a) => [a.verb, a.object])).toEqual([['alert.critical', 'alert:queue-slow']]);
    expect((await health(s, as(s, 'other'))).rules.find((r: { name: string }) => r.name === 'queue-slow')).toMatchObject({ state: 'critical' });
  });
});
