import { connectFigures, drain, integrityChecks, lostFigures, remainingMs, type Scenario, serverWindow } from '../context.js';
import { formatInt, formatMs, formatPct, round } from '../format.js';
import { Histogram } from '../histogram.js';
import type { BenchArgs } from '../options.js';
import { sleep } from '../proc.js';
import { Publisher, type PublishVia } from '../publisher.js';
import { Report } from '../report.js';

/**
 * N subscribers and a steady publisher; then every subscriber's socket is dropped at once
 * (terminated on the client side, no close frame) and all reconnect and resubscribe with
 * recovery from the last offset they saw. Checked against the publisher's offsets: each
 * subscriber must end with every publication exactly once.
 */
/** Steady traffic the machine can carry besides the storm: ~10,000 deliveries/s. */
const rateOf = (a: BenchArgs): number => (a.has('--rate') ? a.num('--rate') : Math.min(20, Math.max(1, Math.round(10_000 / a.count('--clients')))));

export const reconnectStormScenario: Scenario = {
  name: 'reconnect-storm',
  summary: 'every subscriber drops at once and reconnects with recovery: time to full recovery, missed = 0, duplicates = 0',
  options: [
    { flag: '--clients', kind: 'count', default: '1000', help: 'subscribers that drop and recover' },
    {
      flag: '--rate',
      kind: 'number',
      min: 0.1,
      help: 'publications per second, before, during and after the storm (default 10,000 / clients, from 1 to 20: about 10,000 deliveries/s)',
    },
    { flag: '--before', kind: 'duration', default: '2s', help: 'publishing before the drop' },
    { flag: '--after', kind: 'duration', default: '2s', help: 'publishing after the last client recovered' },
    { flag: '--recovery-timeout', kind: 'duration', default: '120s', help: 'longest time for every client to reconnect' },
    {
      flag: '--publish-via',
      kind: 'choice',
      choices: ['ws', 'http'],
      default: 'ws',
      help: 'publisher: a WebSocket connection (not dropped) or POST /api/v1/publish',
    },
    { flag: '--drain', kind: 'duration', default: '15s', help: 'longest wait for deliveries after the last publication' },
  ],
  connections: (a) => a.count('--clients') + 1,
  estimateMs: (a) => 90_000 + a.count('--clients') * 20 + a.ms('--before') + a.ms('--after') + a.ms('--recovery-timeout') + a.ms('--drain'),

  async run(ctx) {
    const { args, fleet, gauge, progress, target } = ctx;
    const clients = args.count('--clients');
    const channel = `${target.namespace}:storm`;
    const rate = rateOf(args);
    const report = new Report('reconnect-storm', { ...args.toJSON(), rate });

    progress.phase('subscribing', clients, (c) => c.open + c.failed);
    const open = await fleet.open({ count: clients, userPrefix: 'r', layout: { kind: 'one', channel } }, remainingMs(ctx));
    const publisher = await Publisher.open(args.text('--publish-via') as PublishVia, ctx.server, target);
    try {
      gauge.mark();
      let stopped = false;
      const recoveryMs = args.ms('--recovery-timeout');
      const publishing = publisher.run({
        channels: [channel],
        rate,
        durationMs: args.ms('--before') + recoveryMs + args.ms('--after') + 60_000,
        stop: () => stopped,
      });
      progress.phase(`publishing ${rate}/s before the storm`);
      await sleep(args.ms('--before'));

      progress.phase('storm: reconnecting with recovery', open.ok, (c) => c.open);
      const perWorker = Math.ceil(fleet.concurrency / fleet.pids.length);
      const storms = await fleet.all(
        { type: 'storm', concurrency: perWorker, deadlineMs: Math.min(recoveryMs, remainingMs(ctx)) },
        'stormed',
        Math.min(recoveryMs, remainingMs(ctx)) + 30_000,
      );
      progress.phase('publishing after the storm');
      await sleep(args.ms('--after'));
      stopped = true;
      const run = await publishing;
      progress.phase('draining', run.acked * open.ok, (c) => c.measured);
      await drain(ctx, run.acked * open.ok, args.ms('--drain'));
      const r = await fleet.results(publisher.lastOffsets(), run.perChannel);

      const t0 = Math.min(...storms.map((s) => s.t0Us));
      const last = Math.max(...storms.map((s) => s.lastUs));
      const sum = (f: (s: (typeof storms)[number]) => number) => storms.reduce((a, s) => a + f(s), 0);
      const reconnected = sum((s) => s.reconnected);
      const recovered = sum((s) => s.recovered);
      const notRecovered = sum((s) => s.notRecovered);
      const failed = sum((s) => s.failed);
      const recoveryS = (last - t0) / 1e6;

      report.section('Before the storm');
      connectFigures(report, 'connect', open);
      report.add('publish.via', publisher.via);
      report.add(
        'publish.acked',
        run.acked,
        'publications (whole run)',
        `${formatInt(run.acked)} accepted at ${formatInt(rate)}/s${run.failed ? `, ${formatInt(run.failed)} refused ${JSON.stringify(run.errors)}` : ''}`,
      );
      report.add('publish.failed', run.failed);
      report.add('publish.contiguous', run.contiguous);

      report.section('Storm');
      report.add('storm.dropped', open.ok, 'connections dropped at once', formatInt(open.ok));
      report.add(
        'storm.reconnected',
        reconnected,
        'reconnected',
        `${formatInt(reconnected)}${
          failed
            ? `, ${formatInt(failed)} failed (${storms
                .flatMap((s) => s.errors)
                .slice(0, 3)
                .join('; ')})`
            : ''
        }`,
      );
      report.add('storm.recovered', recovered, 'recovered (recovered: true)', `${formatInt(recovered)} of ${formatInt(open.ok)}`);
      report.add('storm.notRecovered', notRecovered, 'not recoverable (recovered: false)', formatInt(notRecovered));
      report.add('storm.failed', failed);
      report.add(
        'storm.recoveredPublications',
        sum((s) => s.recoveredPublications),
        'publications recovered from history',
        formatInt(sum((s) => s.recoveredPublications)),
      );
      report.add('storm.timeToFullRecoveryMs', round(recoveryS * 1000, 1), 'time to full recovery', formatMs(recoveryS * 1000));
      report.add(
        'storm.reconnectsPerSecond',
        round(reconnected / Math.max(1e-3, recoveryS), 1),
        'reconnect rate',
        `${formatInt(reconnected / Math.max(1e-3, recoveryS))} /s`,
      );
      report.latency('storm.recoveryLatency', 'drop → recovered', Histogram.merge(storms.map((s) => s.latency)));

      report.section("Delivery (checked against the publisher's offsets)");
      const expected = r.expected;
      report.add('delivery.expected', expected);
      report.add(
        'delivery.delivered',
        r.measured,
        'delivered',
        `${formatInt(r.measured)} of ${formatInt(expected)} (${formatPct(expected ? (r.measured / expected) * 100 : 100)})`,
      );
      integrityChecks(report, r);
      report.latency('delivery.latency', 'latency (live and recovered)', r.latency);
      const lost = lostFigures(report, r.lost);

      report.section('Server (whole run: connects, deliveries and recoveries)');
      serverWindow(report, ctx);

      report.check('every client connected', open.ok === clients, `${formatInt(open.ok)} of ${formatInt(clients)}`);
      report.check('every client recovered', recovered === open.ok && open.ok > 0, `${formatInt(recovered)} of ${formatInt(open.ok)}`);
      report.check('publisher offsets contiguous', run.contiguous && run.failed === 0, run.contiguous ? 'yes' : 'no');
      report.check('no connection lost besides the drop', lost === 0, `${formatInt(lost)} lost`);
      report.check(
        'every publication delivered exactly once',
        r.measured === expected && expected === run.acked * open.ok,
        `${formatInt(r.measured)} of ${formatInt(run.acked * open.ok)}`,
      );
      return report;
    } finally {
      await publisher.close();
    }
  },
};
