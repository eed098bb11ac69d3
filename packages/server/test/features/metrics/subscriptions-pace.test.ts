import { describe, expect, it } from 'vitest';
import type { SessionContext } from '../../../src/core/context.js';
import { RawJson } from '../../../src/core/encode.js';
import { metricsConfig } from '../../../src/features/metrics/config.js';
import { MetricStores } from '../../../src/features/metrics/metric-stores.js';
import { MetricSubscriptions, type SubscriptionSpec } from '../../../src/features/metrics/subscriptions.js';

/**
 * The pace of metric subscriptions served in one round: each frame is dated when it is made,
 * so a subscription served late in a long round is due again one interval after its own
 * frame, not together with the first ones served — the subscriptions of one busy round do not
 * all fall due in the same later round, which would make one burst of every frame per interval.
 */
const T0 = 1_700_000_000_000;
const config = metricsConfig.parse({ series: { lat: { kind: 'gauge' } } });

interface Sent {
  client: string;
  at: number;
  kind: string;
}

function fakeClient(id: string, sent: Sent[]): SessionContext {
  return {
    id,
    closed: false,
    backlog: 0,
    pushFeature(_feature: string, _event: string, data: unknown) {
      const frame = data instanceof RawJson ? JSON.parse(data.text) : data;
      sent.push({ client: id, at: (frame as { at: number }).at, kind: (frame as { kind: string }).kind });
    },
  } as unknown as SessionContext;
}

/** A subscription to `lat` at 1 s buckets over a minute, `rate` frames a second, in `columns`. */
function specOf(rate: number, columns: SubscriptionSpec['columns']): SubscriptionSpec {
  return {
    tenant: 'acme',
    labels: {},
    series: ['lat'],
    step: 1000,
    window: 60_000,
    columns,
    rate,
    reply: { resolution: '1s', step: 1000, window: 60_000, truncated: false, rate } as SubscriptionSpec['reply'],
  };
}

describe('metric subscriptions, pace', () => {
  it('dates each frame of a round when it is made, and paces each subscription from its own frame', () => {
    let t = T0;
    /** While set, every read of the clock is this many ms later (a round that takes time). */
    let tick = 0;
    const clock = {
      now: () => {
        t += tick;
        return t;
      },
    };
    const stores = new MetricStores(config, clock);
    // No time budget here: the round makes every frame due however long it takes.
    const subs = new MetricSubscriptions(stores, clock, 1 << 20, { monotonic: () => t, roundBudgetMs: Number.POSITIVE_INFINITY });
    const sent: Sent[] = [];
    const spec = specOf(10, ['count', 'last']);
    for (let i = 0; i < 5; i++) subs.open(fakeClient(`c${i}`, sent), spec).start();
    expect(sent.filter((f) => f.kind === 'backfill')).toHaveLength(5);
    const write = (value: number) => {
      const points = [{ series: 'lat', labels: {}, ts: t, value }];
      stores.write('acme', points, stores.check('acme', points));
    };

    // Every subscription due at once; the round takes 10 ms per frame made.
    t = T0 + 100;
    write(1);
    tick = 10;
    subs.poll();
    tick = 0;
    const first = sent.filter((f) => f.kind === 'update');
    expect(first.map((f) => f.client)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    const ats = first.map((f) => f.at);
    for (let i = 1; i < ats.length; i++) expect(ats[i]).toBeGreaterThan(ats[i - 1] as number);

    // One interval after the first frame only the first subscription is due again; each of the
    // others one interval after its own frame.
    t = (ats[0] as number) + 100;
    write(2);
    subs.poll();
    expect(sent.filter((f) => f.kind === 'update').map((f) => f.client)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c0']);
    t = (ats[4] as number) + 100;
    write(3);
    subs.poll();
    const all = sent.filter((f) => f.kind === 'update');
    expect(all.slice(6).map((f) => f.client)).toEqual(['c1', 'c2', 'c3', 'c4']);
    // No two frames of one subscription closer than its interval.
    for (let i = 0; i < 5; i++) {
      const mine = all.filter((f) => f.client === `c${i}`).map((f) => f.at);
      for (let k = 1; k < mine.length; k++) expect((mine[k] as number) - (mine[k - 1] as number)).toBeGreaterThanOrEqual(100);
    }
    subs.stop();
  });

  it('runs rounds of frames at most a tenth of the shortest push interval apart', () => {
    let t = T0;
    const clock = { now: () => t };
    const stores = new MetricStores(config, clock);
    // The rounds' own clock moves with the server's here.
    const subs = new MetricSubscriptions(stores, clock, 1 << 20, { monotonic: () => t });
    const sent: Sent[] = [];
    const spec = (rate: number) => specOf(rate, ['count']);
    const write = (value: number) => {
      const points = [{ series: 'lat', labels: {}, ts: t, value }];
      stores.write('acme', points, stores.check('acme', points));
    };
    const updates = () => sent.filter((f) => f.kind === 'update').map((f) => f.client);
    // One subscription at 1 frame a second: rounds 100 ms apart at most.
    subs.open(fakeClient('a', sent), spec(1)).start();
    t = T0 + 1000;
    write(1);
    subs.poll();
    expect(updates()).toEqual(['a']);
    // b opens 10 ms later; a's round at 2,000 ms comes before b is due (at 2,010): b then waits
    // for the next round, 100 ms after that one.
    t = T0 + 1010;
    subs.open(fakeClient('b', sent), spec(1)).start();
    t = T0 + 2000;
    write(2);
    subs.poll();
    expect(updates()).toEqual(['a', 'a']);
    t = T0 + 2050;
    write(3);
    subs.poll();
    t = T0 + 2099;
    subs.poll();
    expect(updates()).toEqual(['a', 'a']);
    t = T0 + 2100;
    subs.poll();
    expect(updates()).toEqual(['a', 'a', 'b']);
    // A subscription at 10 frames a second brings the rounds to 10 ms apart (c opens at 2,100).
    subs.open(fakeClient('c', sent), spec(10)).start();
    t = T0 + 2250;
    write(4);
    subs.poll();
    expect(updates()).toEqual(['a', 'a', 'b', 'c']);
    t = T0 + 2345;
    write(5);
    subs.poll(); // a round: nothing due
    t = T0 + 2350;
    subs.poll(); // c is due, 5 ms after the last round: the next round, 10 ms after it
    expect(updates().slice(4)).toEqual([]);
    t = T0 + 2355;
    subs.poll();
    expect(updates().slice(4)).toEqual(['c']);
    subs.stop();
  });

  it('lets the loop go on when a round runs out of its time budget, and goes on with the same round after it', async () => {
    let t = T0;
    const clock = { now: () => t };
    const stores = new MetricStores(config, clock);
    // A budget of 0 ms: every round stops after each frame made.
    const subs = new MetricSubscriptions(stores, clock, 1 << 20, { roundBudgetMs: 0 });
    const sent: Sent[] = [];
    const spec = specOf(10, ['count']);
    for (let i = 0; i < 3; i++) subs.open(fakeClient(`c${i}`, sent), spec).start();
    t = T0 + 100;
    const points = [{ series: 'lat', labels: {}, ts: t, value: 1 }];
    stores.write('acme', points, stores.check('acme', points));
    const updates = () => sent.filter((f) => f.kind === 'update').map((f) => f.client);
    subs.poll();
    // One frame, then the loop: the rest come on the next turns, though the clock has not moved
    // (a round going on waits for no gap).
    expect(updates()).toEqual(['c0']);
    for (let turn = 0; turn < 5; turn++) await new Promise((r) => setImmediate(r));
    expect(updates()).toEqual(['c0', 'c1', 'c2']);
    // Nothing is sent twice: the round is over.
    subs.poll();
    for (let turn = 0; turn < 3; turn++) await new Promise((r) => setImmediate(r));
    expect(updates()).toEqual(['c0', 'c1', 'c2']);
    subs.stop();
  });
});
