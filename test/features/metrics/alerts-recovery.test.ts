import { AlertStore } from '@switchboard/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DurableServer, STORES, startDurableServer } from '../../durable/helpers.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { alertActivities, alertsConfig, as, evaluate, health, ingestSecond, performanceNotes, T0 } from './alerts-helpers.js';

/**
 * A transition stored but not yet announced — the node that stored it stopped before writing
 * its activity and notification — is announced by the next evaluation, once, and the rule then
 * goes on from the stored state.
 */

describe.each(STORES)('an alert transition left pending on %s', (store) => {
  const clock = new ManualClock(T0 + 10_000);
  let s: DurableServer;

  beforeAll(async () => {
    s = await startDurableServer(store, { now: clock.now, metrics: alertsConfig() });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('is announced once by the next evaluation, which then goes on', async () => {
    const acme = as(s);
    // What a node that stopped right after storing the warning left behind.
    const states = new AlertStore(s.server.storage, clock.now);
    const warning = { seq: 1, from: 'ok' as const, to: 'warning' as const, at: T0 + 3000, value: 250, threshold: 200 };
    const stored = { state: 'warning' as const, since: T0 + 3000, value: 250, evaluatedAt: T0 + 3000, warningSince: T0, criticalSince: null, seq: 1 };
    expect(await states.put('acme', 'login-latency', 0, stored, warning)).toBe(true);
    expect(await alertActivities(s, acme)).toEqual([]);

    // Points of the rule's series on this node make it evaluate the tenant's rule.
    await ingestSecond(s, acme, T0 + 9000, 260);
    await evaluate(s);
    await evaluate(s);
    expect((await alertActivities(s, acme)).map((a) => [a.verb, a.time])).toEqual([['alert.warning', T0 + 3000]]);
    for (const user of ['ann', 'bob']) expect((await performanceNotes(s, acme, user)).map((n) => n.title)).toEqual(['login-latency: warning']);
    expect((await states.get('acme', 'login-latency')).pending).toBeNull();
    // The buckets after the stored one were evaluated: the empty ones hold the state, the last one is 260.
    expect(await health(s, acme)).toMatchObject({ state: 'warning', rules: [{ state: 'warning', since: T0 + 3000, value: 260, evaluatedAt: T0 + 10_000 }] });
  });
});
