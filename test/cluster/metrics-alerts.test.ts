import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type DurableServer, startDurableServer, type TestDatabase } from '../durable/helpers.js';
import { alertActivities, alertsConfig, as, evaluate, health, ingestSecond, performanceNotes, T0 } from '../features/metrics/alerts-helpers.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { dropPrefix } from './drop-prefix.js';

/**
 * Alert rules on two nodes on one Redis and one PostgreSQL schema, sharing one injected clock.
 * The nodes announce no partial buckets to each other here (`pushInterval` 1 h: each reads its
 * own points, so the test can tell which node evaluated; merged reads are proven in
 * metrics-merge.test.ts). Both nodes hold the same points and evaluate at the same moments: each transition is still stored once and
 * announced once — one activity, one notification per recipient. Only the node holding a
 * rule's lease evaluates it (points only the other node holds do not move it), and after that
 * node stops, the other takes over from the stored state without repeating anything.
 */

const REDIS_URL = 'redis://127.0.0.1:6379';
const prefix = `sbalerts-${randomBytes(4).toString('hex')}`;

describe('metric alerts on two nodes (Redis engine, one PostgreSQL)', () => {
  const clock = new ManualClock(T0);
  let db: TestDatabase;
  let n1: DurableServer;
  let n2: DurableServer;
  let next = T0;
  let n1Closed = false;

  /**
   * One second of points into every live node (`values[i]` into node i), the clock past it,
   * and the nodes evaluating at once (one after the other with `inTurn`).
   */
  async function second(nodes: DurableServer[], values: number[], inTurn = false): Promise<void> {
    for (const [i, n] of nodes.entries()) await ingestSecond(n, as(n), next, values[i] as number);
    next += 1000;
    clock.advanceTo(next + 1);
    if (inTurn) for (const n of nodes) await evaluate(n);
    else await Promise.all(nodes.map((n) => evaluate(n)));
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const config = { redis: REDIS_URL, redisPrefix: prefix, now: clock.now, metrics: alertsConfig({ pushInterval: '1h' }) };
    n1 = await startDurableServer('postgres', { ...config, nodeId: 'alerts-1' }, db);
    n2 = await startDurableServer('postgres', { ...config, nodeId: 'alerts-2' }, db);
  });
  afterAll(async () => {
    if (!n1Closed) await n1?.close();
    await n2?.close();
    await db?.drop();
    await dropPrefix(REDIS_URL, prefix);
  });

  it('announces each transition once while both nodes evaluate the same points', async () => {
    // The first evaluation in turn, so node 1 takes the rule's lease; then both at once.
    await second([n1, n2], [250, 250], true);
    for (const v of [250, 250, 260, 600, 600, 600, 600]) await second([n1, n2], [v, v]);
    for (const n of [n1, n2]) {
      expect((await alertActivities(n, as(n))).map((a) => a.verb)).toEqual(['alert.warning', 'alert.critical']);
      for (const user of ['ann', 'bob'])
        expect((await performanceNotes(n, as(n), user)).map((x) => x.title)).toEqual(['login-latency: warning', 'login-latency: critical']);
      expect(await health(n, as(n))).toMatchObject({ state: 'critical', rules: [{ state: 'critical' }] });
    }
  });

  it("evaluates a rule on the node holding its lease only: the other node's points do not move it", async () => {
    // Node 2 alone would resolve the rule on these points; node 1 holds the lease and sees 600.
    for (let i = 0; i < 3; i++) await second([n1, n2], [600, 100]);
    expect((await alertActivities(n2, as(n2))).map((a) => a.verb)).toEqual(['alert.warning', 'alert.critical']);
    expect(await health(n2, as(n2))).toMatchObject({ state: 'critical', rules: [{ state: 'critical', evaluatedAt: next }] });
  });

  it('lets the other node take over from the stored state when the evaluating node stops, repeating nothing', async () => {
    await n1.close();
    n1Closed = true;
    await second([n2], [600]);
    await second([n2], [100]);
    expect((await alertActivities(n2, as(n2))).map((a) => a.verb)).toEqual(['alert.warning', 'alert.critical', 'alert.resolved']);
    expect((await performanceNotes(n2, as(n2), 'ann')).map((x) => x.priority)).toEqual(['normal', 'critical', 'normal']);
    expect(await health(n2, as(n2))).toMatchObject({ state: 'ok', rules: [{ state: 'resolved', since: next }] });
  });
});
