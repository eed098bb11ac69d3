import { MIX } from '../activities.js';
import { type BenchContext, connectFigures, drain, integrityChecks, lostFigures, remainingMs, type Scenario, serverWindow } from '../context.js';
import { mergeOps, mergeRecords } from '../fleet.js';
import { formatInt, formatMs, formatPct, round } from '../format.js';
import type { BenchArgs, OptionDef } from '../options.js';
import { nowUs } from '../proc.js';
import { Report } from '../report.js';

/**
 * The five load tests one of the source teams ran, as named scenarios. Connections are
 * users in rooms of `--room-size` (a channel each, with presence); each publishes to its
 * room, and a connection succeeds when it connected, joined, had every command accepted,
 * stayed connected and received every publication of its room.
 */
interface LoadPreset {
  name: string;
  summary: string;
  connections: number;
  /** Messages per connection (message tests) or a duration (sustained and mixed tests). */
  mode: 'messages' | 'sustained' | 'mixed';
  messages?: number;
  interval: string;
  duration?: string;
  /** The issue's pass criterion on the share of successful connections, when it states one. */
  successPct?: number;
}

const PRESETS: LoadPreset[] = [
  {
    name: 'load-100',
    summary: '100 connections, each publishes to its room; passes at ≥ 95% successful connections',
    connections: 100,
    mode: 'messages',
    messages: 5,
    interval: '1s',
    successPct: 95,
  },
  { name: 'load-500', summary: '500 connections, each publishes to its room', connections: 500, mode: 'messages', messages: 5, interval: '1s' },
  { name: 'load-200x50', summary: '200 connections × 50 messages each', connections: 200, mode: 'messages', messages: 50, interval: '200ms' },
  {
    name: 'load-300-sustained',
    summary: '300 connections sustained for 2 minutes with steady traffic (--duration shortens it)',
    connections: 300,
    mode: 'sustained',
    interval: '2s',
    duration: '2m',
  },
  {
    name: 'load-400-mixed',
    summary: '400 connections doing a mix of publish, signals, presence, history, subscribe / unsubscribe',
    connections: 400,
    mode: 'mixed',
    interval: '1s',
    duration: '30s',
  },
];

function options(p: LoadPreset): OptionDef[] {
  const out: OptionDef[] = [
    { flag: '--connections', kind: 'count', default: String(p.connections), help: 'connections (users)' },
    { flag: '--room-size', kind: 'count', default: '10', help: 'connections per room (channel)' },
  ];
  if (p.mode === 'messages') out.push({ flag: '--messages', kind: 'count', default: String(p.messages), help: 'messages each connection publishes' });
  else out.push({ flag: '--duration', kind: 'duration', default: p.duration, help: 'how long the traffic runs' });
  out.push({
    flag: '--interval',
    kind: 'duration',
    default: p.interval,
    min: 1,
    help: p.mode === 'mixed' ? 'time between two commands of one connection' : 'time between two messages of one connection',
  });
  out.push({ flag: '--drain', kind: 'duration', default: '15s', help: 'longest wait for deliveries after the traffic' });
  return out;
}

function trafficMs(p: LoadPreset, args: BenchArgs): number {
  return p.mode === 'messages' ? args.count('--messages') * args.ms('--interval') : args.ms('--duration');
}

async function runLoad(ctx: BenchContext, p: LoadPreset): Promise<Report> {
  const { args, fleet, gauge, progress, target } = ctx;
  const n = args.count('--connections');
  const room = args.count('--room-size');
  const interval = args.ms('--interval');
  const report = new Report(p.name, args.toJSON());

  progress.phase('connecting and joining rooms', n, (c) => c.open + c.failed);
  const open = await fleet.open(
    {
      count: n,
      userPrefix: 'u',
      layout: { kind: 'block', prefix: `${target.namespace}:room-`, size: room },
      presence: true,
      watchPresence: p.mode === 'mixed',
    },
    remainingMs(ctx),
  );
  await fleet.all({ type: 'reset' }, 'reset', 10_000);
  gauge.mark();
  const startUs = nowUs();
  const traffic = trafficMs(p, args);
  const budget = Math.min(remainingMs(ctx), traffic + 60_000);
  /** What each worker published: publications and the last offset per channel. */
  let channelParts: Array<{ perChannel: Record<string, number>; lastOffset: Record<string, number> }>;
  let ops: ReturnType<typeof mergeOps>;
  let signalsSent = 0;
  let signalsExpected = 0;
  progress.phase(
    p.mode === 'mixed' ? 'mixed traffic' : 'publishing',
    Math.round((open.ok * traffic) / interval) * (p.mode === 'mixed' ? 0 : room),
    (c) => c.measured,
  );
  if (p.mode === 'mixed') {
    const parts = await fleet.all({ type: 'mix', opsPerSecond: 1000 / interval, durationMs: traffic }, 'mixed', budget);
    channelParts = parts;
    ops = mergeOps(parts.map((x) => x.ops));
    const signals = mergeRecords(
      parts.map((x) => x.signalsPerChannel),
      'sum',
    );
    for (const [ch, k] of Object.entries(signals)) {
      signalsSent += k;
      const idx = Number(ch.slice(ch.lastIndexOf('-') + 1));
      signalsExpected += k * (Math.min(room, n - idx * room) - 1);
    }
  } else {
    const perConnection = p.mode === 'messages' ? args.count('--messages') : Math.max(1, Math.floor(traffic / interval));
    const parts = await fleet.all({ type: 'publish', perConnection, intervalMs: interval, deadlineMs: traffic + 30_000 }, 'published', budget);
    channelParts = parts;
    ops = mergeOps(parts.map((x) => ({ publish: x.stats })));
  }
  const perChannel = mergeRecords(
    channelParts.map((x) => x.perChannel),
    'sum',
  );
  const lastOffset = mergeRecords(
    channelParts.map((x) => x.lastOffset),
    'max',
  );
  const trafficSeconds = (nowUs() - startUs) / 1e6;
  const published = Object.values(perChannel).reduce((a, b) => a + b, 0);
  const plannedDeliveries = Object.entries(perChannel).reduce((a, [ch, k]) => a + k * Math.min(room, n - Number(ch.slice(ch.lastIndexOf('-') + 1)) * room), 0);
  progress.phase('draining', plannedDeliveries, (c) => c.measured);
  await drain(ctx, plannedDeliveries, args.ms('--drain'), 5000, (c) => c.measured);
  const r = await fleet.results(lastOffset, perChannel);
  const seconds = Math.max(1e-3, ((r.lastRecvUs || nowUs()) - startUs) / 1e6);

  report.section('Load');
  report.add('rooms', Math.ceil(n / room), 'rooms', `${formatInt(Math.ceil(n / room))} rooms of ${room} connections (presence on)`);
  connectFigures(report, 'connect', open);
  const failedOps = Object.values(ops).reduce((a, o) => a + o.failed, 0);
  const okOps = Object.values(ops).reduce((a, o) => a + o.ok, 0);
  report.add(
    'commands.ok',
    okOps,
    'commands accepted',
    `${formatInt(okOps)} in ${trafficSeconds.toFixed(1)} s = ${formatInt(okOps / Math.max(1e-3, trafficSeconds))} /s`,
  );
  report.add(
    'commands.failed',
    failedOps,
    'commands refused',
    failedOps === 0
      ? '0'
      : Object.entries(ops)
          .filter(([, o]) => o.failed)
          .map(([k, o]) => `${k} ${o.failed} ${JSON.stringify(o.errors)}`)
          .join('; '),
  );
  for (const [k, o] of Object.entries(ops)) {
    if (o.ok + o.failed === 0) continue;
    const s = o.latency.summary();
    report.add(
      `commands.byMethod.${k}`,
      { ok: o.ok, failed: o.failed, latency: s },
      `  ${k}`,
      `${formatInt(o.ok)} ok, p50 ${formatMs(s.p50)}, p99 ${formatMs(s.p99)}, max ${formatMs(s.max)}`,
    );
  }
  report.add('publications', published, 'publications accepted', formatInt(published));

  report.section('Delivery');
  const pct = r.expected ? (r.measured / r.expected) * 100 : 100;
  report.add('delivery.expected', r.expected);
  report.add('delivery.delivered', r.measured, 'delivered', `${formatInt(r.measured)} of ${formatInt(r.expected)} (${formatPct(pct)})`);
  report.add('delivery.perSecond', round(r.measured / seconds, 1), 'delivered msgs/s', formatInt(r.measured / seconds));
  report.latency('delivery.latency', 'latency', r.latency);
  integrityChecks(report, r);
  if (p.mode === 'mixed') {
    report.add('signals.sent', signalsSent);
    report.add(
      'signals.received',
      r.signals,
      'signals received',
      `${formatInt(r.signals)} of ${formatInt(signalsExpected)} sent to others (signals may be dropped by design)`,
    );
    report.add('presence.events', r.presenceEvents, 'presence events received', formatInt(r.presenceEvents));
  }
  const lost = lostFigures(report, r.lost);
  const successPct = n ? (r.succeeded / n) * 100 : 0;
  report.add('success.connections', r.succeeded, 'successful connections', `${formatInt(r.succeeded)} of ${formatInt(n)} (${formatPct(successPct)})`);
  report.add('success.pct', round(successPct, 2));

  report.section('Server');
  serverWindow(report, ctx, p.mode === 'mixed' ? undefined : r.measured);

  if (p.successPct !== undefined) report.check(`≥ ${p.successPct}% successful connections`, successPct >= p.successPct, formatPct(successPct));
  report.check('every command accepted', failedOps === 0, `${formatInt(failedOps)} refused`);
  report.check('every publication delivered to its room', r.measured === r.expected, `${formatInt(r.measured)} of ${formatInt(r.expected)}`);
  report.check('no connection lost', lost === 0, `${formatInt(lost)} lost`);
  if (p.mode === 'mixed')
    report.note(
      `command mix (percent): ${Object.entries(MIX)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}; subscribe toggles a second channel (subscribe, then unsubscribe).`,
    );
  return report;
}

export const loadScenarios: Scenario[] = PRESETS.map((p) => ({
  name: p.name,
  summary: p.summary,
  options: options(p),
  connections: (a) => a.count('--connections'),
  estimateMs: (a) => 90_000 + a.count('--connections') * 20 + trafficMs(p, a) * 2 + a.ms('--drain'),
  run: (ctx) => runLoad(ctx, p),
}));
