import { type BenchContext, connectFigures, drain, integrityChecks, lostFigures, remainingMs, type Scenario, serverWindow } from '../context.js';
import { formatInt, formatMs, formatPct, round } from '../format.js';
import type { ChannelLayout } from '../ipc.js';
import type { OptionDef } from '../options.js';
import { Publisher, type PublishVia } from '../publisher.js';
import { Report } from '../report.js';

const PUBLISH_OPTIONS: OptionDef[] = [
  { flag: '--duration', kind: 'duration', default: '10s', help: 'measured publishing time' },
  { flag: '--warmup', kind: 'duration', default: '1s', help: 'publishing before the measured window (not counted)' },
  { flag: '--publish-via', kind: 'choice', choices: ['ws', 'http'], default: 'ws', help: 'publisher: a WebSocket connection or POST /api/v1/publish' },
  { flag: '--drain', kind: 'duration', default: '15s', help: 'longest wait for deliveries after the last publication' },
];

interface Shape {
  channels: number;
  perChannel: number;
  /** Publications per second over all channels. */
  rate: number;
}

/** One publisher, `channels` channels with `perChannel` subscribers each, publications round-robin over the channels. */
async function runFanout(ctx: BenchContext, name: string, shape: Shape): Promise<Report> {
  const { args, fleet, gauge, progress, target } = ctx;
  const subscribers = shape.channels * shape.perChannel;
  const report = new Report(name, args.toJSON());
  const layout: ChannelLayout =
    shape.channels === 1
      ? { kind: 'one', channel: `${target.namespace}:fanout` }
      : { kind: 'block', prefix: `${target.namespace}:mc-`, size: shape.perChannel };
  const channels = shape.channels === 1 ? [`${target.namespace}:fanout`] : Array.from({ length: shape.channels }, (_, i) => `${target.namespace}:mc-${i}`);

  progress.phase('subscribing', subscribers, (c) => c.open + c.failed);
  const open = await fleet.open({ count: subscribers, userPrefix: 's', layout }, remainingMs(ctx));
  const publisher = await Publisher.open(args.text('--publish-via') as PublishVia, ctx.server, target);
  try {
    const durationMs = args.ms('--duration');
    if (args.ms('--warmup') > 0) {
      progress.phase('warming up');
      await publisher.run({ channels, rate: shape.rate, durationMs: args.ms('--warmup'), warmup: true });
      await drain(ctx, Number.MAX_SAFE_INTEGER, 5000, 500, (c) => c.received);
    }
    await fleet.all({ type: 'reset' }, 'reset', 10_000);
    gauge.mark();
    const expectedPerPub = shape.perChannel;
    const planned = Math.round((shape.rate * durationMs) / 1000) * expectedPerPub;
    progress.phase(`publishing ${shape.rate}/s`, planned, (c) => c.measured);
    const run = await publisher.run({ channels, rate: shape.rate, durationMs });
    progress.phase('draining', run.acked * expectedPerPub, (c) => c.measured);
    await drain(ctx, run.acked * expectedPerPub, args.ms('--drain'));
    const r = await fleet.results(publisher.lastOffsets(), run.perChannel);

    report.section('Load');
    report.add(
      'subscribers',
      subscribers,
      'subscribers',
      shape.channels === 1 ? formatInt(subscribers) : `${formatInt(shape.channels)} channels × ${formatInt(shape.perChannel)}`,
    );
    report.add('channels', shape.channels);
    connectFigures(report, 'connect', open);
    const publishSeconds = (run.endUs - run.startUs) / 1e6;
    report.add('publish.via', publisher.via);
    report.add(
      'publish.offeredPerSecond',
      shape.rate,
      'publications offered',
      `${formatInt(shape.rate)} /s for ${(durationMs / 1000).toFixed(1)} s (${publisher.via})`,
    );
    report.add(
      'publish.acked',
      run.acked,
      'publications accepted',
      `${formatInt(run.acked)} of ${formatInt(run.sent)}${run.failed ? `, ${formatInt(run.failed)} refused ${JSON.stringify(run.errors)}` : ''}`,
    );
    report.add('publish.failed', run.failed);
    report.add('publish.achievedPerSecond', round(run.acked / Math.max(1e-3, publishSeconds), 1));
    report.latency('publish.ackLatency', 'publish round trip', run.latency);

    report.section('Delivery');
    const expected = r.expected;
    const deliveredPct = expected ? (r.measured / expected) * 100 : 100;
    const windowS = Math.max(1e-3, ((r.lastRecvUs || run.endUs) - run.startUs) / 1e6);
    report.add('delivery.expected', expected);
    report.add('delivery.delivered', r.measured, 'delivered', `${formatInt(r.measured)} of ${formatInt(expected)} (${formatPct(deliveredPct)})`);
    report.add('delivery.deliveredPct', round(deliveredPct, 3));
    report.add('delivery.perSecond', round(r.measured / windowS, 1), 'delivered msgs/s', formatInt(r.measured / windowS));
    report.add(
      'delivery.perConnection',
      { min: r.minPerConnection, max: r.maxPerConnection },
      'per subscriber min / max',
      `${formatInt(r.minPerConnection)} / ${formatInt(r.maxPerConnection)}`,
    );
    const lat = report.latency('delivery.latency', 'latency', r.latency);
    integrityChecks(report, r);
    const lost = lostFigures(report, r.lost);

    report.section('Server');
    serverWindow(report, ctx, r.measured);

    report.check('every subscriber connected', open.ok === subscribers, `${formatInt(open.ok)} of ${formatInt(subscribers)}`);
    report.check('every publication accepted', run.failed === 0 && run.acked > 0, `${formatInt(run.acked)} accepted, ${formatInt(run.failed)} refused`);
    report.check(
      'every publication delivered to every subscriber',
      r.measured === expected && expected === run.acked * expectedPerPub,
      `${formatInt(r.measured)} of ${formatInt(run.acked * expectedPerPub)}`,
    );
    report.check('no connection lost', lost === 0, `${formatInt(lost)} lost`);
    report.target('100% delivery with p99 under 50 ms', deliveredPct === 100 && lat.p99 < 50, `${formatPct(deliveredPct)} delivered, p99 ${formatMs(lat.p99)}`);
    return report;
  } finally {
    await publisher.close();
  }
}

export const fanoutScenario: Scenario = {
  name: 'fanout',
  summary: 'N subscribers on one channel, one publisher at R msgs/s: delivered msgs/s, latency, server CPU per delivery',
  options: [
    { flag: '--subscribers', kind: 'count', default: '1000', help: 'subscribers of the channel' },
    { flag: '--rate', kind: 'number', default: '100', min: 0.1, help: 'publications per second' },
    ...PUBLISH_OPTIONS,
  ],
  connections: (a) => a.count('--subscribers') + 1,
  estimateMs: (a) => 90_000 + a.count('--subscribers') * 10 + a.ms('--duration') * 3 + a.ms('--warmup') + a.ms('--drain'),
  run: (ctx) => runFanout(ctx, 'fanout', { channels: 1, perChannel: ctx.args.count('--subscribers'), rate: ctx.args.num('--rate') }),
};

export const manyChannelsScenario: Scenario = {
  name: 'many-channels',
  summary: 'N channels × M subscribers each, one publisher round-robin over the channels at R msgs/s in all',
  options: [
    { flag: '--channels', kind: 'count', default: '100', help: 'channels' },
    { flag: '--subscribers', kind: 'count', default: '10', help: 'subscribers per channel' },
    { flag: '--rate', kind: 'number', default: '500', min: 0.1, help: 'publications per second over all channels' },
    ...PUBLISH_OPTIONS,
  ],
  connections: (a) => a.count('--channels') * a.count('--subscribers') + 1,
  estimateMs: (a) => 90_000 + a.count('--channels') * a.count('--subscribers') * 10 + a.ms('--duration') * 3 + a.ms('--warmup') + a.ms('--drain'),
  run: (ctx) =>
    runFanout(ctx, 'many-channels', { channels: ctx.args.count('--channels'), perChannel: ctx.args.count('--subscribers'), rate: ctx.args.num('--rate') }),
};
