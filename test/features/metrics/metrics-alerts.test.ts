import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type DurableServer, STORES, startDurableServer, type TestDatabase } from '../../durable/helpers.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { alertActivities, alertsConfig, as, evaluate, health, ingestSecond, performanceNotes, T0, type Tenant } from './alerts-helpers.js';

/**
 * Alert rules end to end on a real server with an injected clock: points ingested over HTTP a
 * second at a time, the rule evaluated after each second, the transitions read back through
 * the activity and notification APIs; the state kept in storage across a restart; one
 * tenant's points never move another tenant's rule.
 */

describe.each(STORES)('metric alerts on %s', (store) => {
  const clock = new ManualClock(T0);
  let dir: string;
  let db: TestDatabase;
  let s: DurableServer;
  let acme: Tenant;
  /** The next 1 s bucket to fill. */
  let next = T0;

  const start = () => startDurableServer(store, { keepDataDir: dir, now: clock.now, metrics: alertsConfig() }, db);

  /** One second of points at `value` for a tenant, then the clock past that second and one evaluation. */
  async function second(value: number, t: Tenant = acme): Promise<void> {
    await ingestSecond(s, t, next, value);
    next += 1000;
    clock.advanceTo(next + 1);
    await evaluate(s);
  }

  const verbs = async (t: Tenant = acme) => (await alertActivities(s, t)).map((a) => a.verb);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-alerts-'));
    db = await createTestDatabase(store);
    s = await start();
    acme = as(s);
  });
  afterAll(async () => {
    await s?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fires nothing while p95 is above the warning threshold for less than the duration', async () => {
    await second(100);
    await second(250);
    await second(250);
    await second(100);
    expect(await verbs()).toEqual([]);
    expect(await performanceNotes(s, acme, 'ann')).toEqual([]);
    const h = await health(s, acme);
    expect(h).toMatchObject({ state: 'ok', summary: { ok: 1, warning: 0, critical: 0 } });
    expect(h.rules).toEqual([
      expect.objectContaining({ name: 'login-latency', state: 'ok', since: null, evaluatedAt: next, stat: 'p95', warning: 200, critical: 500 }),
    ]);
    expect(h.rules[0].value).toBeCloseTo(100, -1);
  });

  it('fires exactly one warning after the duration: one activity, one normal notification to each named user and role member', async () => {
    await second(250);
    await second(250);
    await second(250);
    const warnedAt = next;
    // Staying above, and wobbling inside the hysteresis band (above 200 − 20), changes nothing.
    for (const v of [260, 195, 210, 185]) await second(v);
    expect(await verbs()).toEqual(['alert.warning']);
    const [activity] = await alertActivities(s, acme);
    expect(activity).toMatchObject({ scope: 'system:alerts', object: 'alert:login-latency', target: 'api.latency_ms', time: warnedAt });
    expect(activity.data).toMatchObject({ rule: 'login-latency', from: 'ok', to: 'warning', threshold: 200, stat: 'p95', labels: { route: '/login' } });
    for (const user of ['ann', 'bob']) {
      const notes = await performanceNotes(s, acme, user);
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatchObject({ type: 'performance', priority: 'normal', title: 'login-latency: warning', resource: 'alert:login-latency' });
    }
    expect(await performanceNotes(s, acme, 'carol')).toEqual([]);
    expect(await health(s, acme)).toMatchObject({
      state: 'warning',
      summary: { ok: 0, warning: 1, critical: 0 },
      rules: [{ state: 'warning', since: warnedAt }],
    });
  });

  it('escalates to critical once, with a critical notification', async () => {
    for (let i = 0; i < 5; i++) await second(600);
    expect(await verbs()).toEqual(['alert.warning', 'alert.critical']);
    const notes = await performanceNotes(s, acme, 'ann');
    expect(notes.map((n) => n.priority)).toEqual(['normal', 'critical']);
    expect(await health(s, acme)).toMatchObject({ state: 'critical', summary: { critical: 1 }, rules: [{ state: 'critical' }] });
  });

  it('keeps the state and the transitions across a restart: nothing is announced again', async () => {
    const before = (await health(s, acme)).rules[0];
    await s.close();
    s = await start();
    acme = as(s);
    // No points in memory after the restart: the stored state is what health reports.
    expect((await health(s, acme)).rules[0]).toEqual(before);
    await evaluate(s);
    await second(600);
    expect(await verbs()).toEqual(['alert.warning', 'alert.critical']);
    expect(await performanceNotes(s, acme, 'bob')).toHaveLength(2);
  });

  it('resolves once below the threshold minus the hysteresis, then turns ok silently', async () => {
    await second(150);
    const resolvedAt = next;
    expect(await health(s, acme)).toMatchObject({ state: 'ok', summary: { ok: 1 }, rules: [{ state: 'resolved', since: resolvedAt }] });
    for (let i = 0; i < 4; i++) await second(100);
    expect(await verbs()).toEqual(['alert.warning', 'alert.critical', 'alert.resolved']);
    const notes = await performanceNotes(s, acme, 'ann');
    expect(notes.map((n) => [n.title, n.priority])).toEqual([
      ['login-latency: warning', 'normal'],
      ['login-latency: critical', 'critical'],
      ['login-latency: resolved', 'normal'],
    ]);
    expect((await health(s, acme)).rules[0]).toMatchObject({ state: 'ok' });
  });

  it("never lets one tenant's points move another tenant's rule", async () => {
    const other = as(s, 'other');
    const demo = as(s, 'demo');
    const from = next;
    for (let i = 0; i < 4; i++) {
      await ingestSecond(s, other, next, 900);
      await second(100);
    }
    expect(await verbs(other)).toEqual(['alert.critical']);
    expect((await alertActivities(s, other))[0].time).toBe(from + 3000);
    expect(await verbs()).toEqual(['alert.warning', 'alert.critical', 'alert.resolved']);
    expect(await health(s, other)).toMatchObject({ state: 'critical', rules: [{ state: 'critical' }] });
    expect(await health(s, acme)).toMatchObject({ state: 'ok', rules: [{ state: 'ok' }] });
    // A tenant with no points has its rules, all ok, and nothing else.
    expect(await health(s, demo)).toMatchObject({
      state: 'ok',
      summary: { ok: 1, warning: 0, critical: 0 },
      rules: [{ state: 'ok', value: null, since: null }],
    });
    expect(await performanceNotes(s, demo, 'ann')).toEqual([]);
    expect(await performanceNotes(s, other, 'ann')).toHaveLength(1);
    expect(await performanceNotes(s, acme, 'ann')).toHaveLength(3);
  });
});
