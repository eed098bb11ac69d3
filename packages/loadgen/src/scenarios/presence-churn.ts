import { connectFigures, drain, lostFigures, remainingMs, type Scenario, serverWindow } from '../context.js';
import { combineOpens, mergeOps } from '../fleet.js';
import { formatInt, formatPct, round } from '../format.js';
import { nowUs } from '../proc.js';
import { Report } from '../report.js';

/** Members join, update and leave presence at a rate; observers on the same channel count the events. */
export const presenceChurnScenario: Scenario = {
  name: 'presence-churn',
  summary: 'members join / update / leave presence at R operations/s; observers count the events and their latency',
  options: [
    { flag: '--observers', kind: 'count', default: '100', help: 'subscribers that only watch presence events' },
    { flag: '--members', kind: 'count', default: '100', help: 'subscribers that enter, update and leave presence in turn' },
    { flag: '--rate', kind: 'number', default: '200', min: 0.1, help: 'presence operations per second over all members' },
    { flag: '--duration', kind: 'duration', default: '10s', help: 'churn time' },
    { flag: '--drain', kind: 'duration', default: '15s', help: 'longest wait for events after the last operation' },
  ],
  connections: (a) => a.count('--observers') + a.count('--members'),
  estimateMs: (a) => 90_000 + (a.count('--observers') + a.count('--members')) * 10 + a.ms('--duration') * 3 + a.ms('--drain'),

  async run(ctx) {
    const { args, fleet, gauge, progress, target } = ctx;
    const observers = args.count('--observers');
    const members = args.count('--members');
    const rate = args.num('--rate');
    const durationMs = args.ms('--duration');
    const report = new Report('presence-churn', args.toJSON());
    const layout = { kind: 'one' as const, channel: `${target.namespace}:presence` };

    progress.phase('subscribing', observers + members, (c) => c.open + c.failed);
    const watchers = await fleet.open({ count: observers, userPrefix: 'o', layout, watchPresence: true, role: 'observer' }, remainingMs(ctx));
    const churners = await fleet.open({ count: members, userPrefix: 'm', layout, role: 'member' }, remainingMs(ctx));
    await fleet.all({ type: 'reset' }, 'reset', 10_000);
    gauge.mark();
    const startUs = nowUs();
    const workers = fleet.pids.length;
    progress.phase(`churning ${rate}/s`, Math.round((rate * durationMs) / 1000) * watchers.ok, (c) => c.presenceEvents);
    const parts = await fleet.all({ type: 'churn', role: 'member', opsPerSecond: rate / workers, durationMs }, 'churned', durationMs + 60_000);
    const ops = mergeOps(parts.map((p) => p.ops));
    const acked = Object.values(ops).reduce((a, o) => a + o.ok, 0);
    const failed = Object.values(ops).reduce((a, o) => a + o.failed, 0);
    const churnSeconds = (nowUs() - startUs) / 1e6;
    const expected = acked * watchers.ok;
    progress.phase('draining', expected, (c) => c.presenceEvents);
    await drain(ctx, expected, args.ms('--drain'));
    const seconds = (nowUs() - startUs) / 1e6;
    const r = await fleet.results({}, {});

    report.section('Load');
    report.add('observers', observers, 'observers / members', `${formatInt(observers)} / ${formatInt(members)}`);
    report.add('members', members);
    connectFigures(report, 'connect', combineOpens(watchers, churners));
    report.add('operations.offeredPerSecond', rate, 'operations offered', `${formatInt(rate)} /s for ${(durationMs / 1000).toFixed(1)} s`);
    report.add(
      'operations.acked',
      acked,
      'operations accepted',
      `${formatInt(acked)} (${Object.entries(ops)
        .map(([k, o]) => `${k} ${formatInt(o.ok)}`)
        .join(', ')})${failed ? `, ${formatInt(failed)} refused` : ''}`,
    );
    report.add('operations.failed', failed);
    report.add(
      'operations.perSecond',
      round(acked / Math.max(1e-3, churnSeconds), 1),
      'operations/s achieved',
      formatInt(acked / Math.max(1e-3, churnSeconds)),
    );
    for (const [k, o] of Object.entries(ops)) report.latency(`operations.${k}.latency`, `${k} round trip`, o.latency);

    report.section('Events seen by observers');
    const pct = expected ? (r.presenceEvents / expected) * 100 : 100;
    report.add('events.expected', expected);
    report.add('events.seen', r.presenceEvents, 'events seen', `${formatInt(r.presenceEvents)} of ${formatInt(expected)} (${formatPct(pct)})`);
    report.add('events.seenPct', round(pct, 3));
    report.add(
      'events.perSecond',
      round(r.presenceEvents / Math.max(1e-3, seconds), 1),
      'events/s seen',
      formatInt(r.presenceEvents / Math.max(1e-3, seconds)),
    );
    report.latency('events.latency', 'join / update latency', r.presenceLatency);
    const lost = lostFigures(report, r.lost);

    report.section('Server');
    serverWindow(report, ctx, r.presenceEvents, 'event seen');

    report.check(
      'every connection opened',
      watchers.ok === observers && churners.ok === members,
      `${formatInt(watchers.ok + churners.ok)} of ${formatInt(observers + members)}`,
    );
    report.check('every operation accepted', failed === 0 && acked > 0, `${formatInt(acked)} accepted, ${formatInt(failed)} refused`);
    report.check('every event seen by every observer', r.presenceEvents === expected, `${formatInt(r.presenceEvents)} of ${formatInt(expected)}`);
    report.check('no connection lost', lost === 0, `${formatInt(lost)} lost`);
    return report;
  },
};
