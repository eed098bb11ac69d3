import { type BenchContext, cpuSnapshot, phaseCpu, remainingMs, type Scenario, serverWindow } from '../context.js';
import { formatBytes, formatInt, formatMs, round } from '../format.js';
import { Histogram } from '../histogram.js';
import type { MetricPushReply } from '../ipc.js';
import { columnarBodies, IngestCounter, type IngestOutcome, ingestHttp, metricServerFlags, SOCKET_SERIES, spreadBodies } from '../metric-ingest.js';
import { nowUs, sleep } from '../proc.js';
import { Report } from '../report.js';
import type { HeapFigures } from '../target.js';

/** Figures of one HTTP ingest phase, its CPU, and whether every batch was accepted. */
function httpPhase(report: Report, key: string, title: string, out: IngestOutcome, points: number, snap: ReturnType<typeof cpuSnapshot>): number {
  const seconds = Math.max(1e-3, (out.endUs - out.startUs) / 1e6);
  const perSecond = out.accepted / seconds;
  report.section(title);
  report.add(
    `${key}.requests`,
    out.requests,
    'requests',
    `${formatInt(out.requests)} batches of ${formatInt(points)} points in ${seconds.toFixed(1)} s${out.refusedRequests ? `, ${formatInt(out.refusedRequests)} refused ${JSON.stringify(out.refusals)}` : ''}`,
  );
  report.add(`${key}.accepted`, out.accepted, 'points accepted', formatInt(out.accepted));
  report.add(`${key}.refused`, out.refusedRequests);
  report.add(`${key}.refusals`, out.refusals);
  report.add(`${key}.seconds`, round(seconds, 2));
  report.add(`${key}.pointsPerSecond`, round(perSecond, 0), 'points accepted /s', formatInt(perSecond));
  report.latency(`${key}.requestLatency`, 'request time', out.latency);
  cpuPerMillion(report, key, snap, out.accepted);
  report.check(
    `${title}: every batch accepted`,
    out.refusedRequests === 0 && out.accepted > 0,
    `${formatInt(out.acceptedRequests)} of ${formatInt(out.requests)}`,
  );
  return perSecond;
}

/** Server CPU seconds per million points accepted, with the phase's CPU row. */
function cpuPerMillion(report: Report, key: string, snap: ReturnType<typeof cpuSnapshot>, accepted: number): void {
  phaseCpu(report, key, snap, accepted, 'point');
  if (snap.server && accepted > 0) {
    const perMillion = (snap.server.seconds * 1e6) / accepted;
    report.add(`${key}.serverCpuSecondsPerMillion`, round(perMillion, 3), 'server CPU per million points', `${perMillion.toFixed(2)} s`);
  }
}

/** Every node's live heap (heap used + external, after forced GCs), summed; null when a node did not answer. */
async function heapOf(ctx: BenchContext): Promise<{ live: number; rss: number } | null> {
  const figures: Array<HeapFigures | null> = await Promise.all(ctx.server.nodes.map((n) => n.heap?.() ?? Promise.resolve(null)));
  if (figures.some((f) => f === null)) return null;
  const all = figures as HeapFigures[];
  return { live: all.reduce((a, f) => a + f.heapUsed + f.external, 0), rss: all.reduce((a, f) => a + f.rss, 0) };
}

async function columnar(ctx: BenchContext, report: Report): Promise<void> {
  const { args, progress, gauge } = ctx;
  const points = args.count('--batch');
  const live = new IngestCounter();
  const durationMs = args.ms('--duration');
  progress.phase(`HTTP columnar, ${formatInt(points)} points a batch`, Math.round((args.num('--target') * durationMs) / 1000), () => live.accepted);
  gauge.mark();
  const out = await ingestHttp(ctx, { body: columnarBodies(points), points, parallel: args.count('--parallel'), durationMs }, live);
  const perSecond = httpPhase(report, 'columnar', 'HTTP, columnar batches into one series', out, points, cpuSnapshot(ctx));
  report.target(
    `≥ ${formatInt(args.num('--target'))} points/s into one series over HTTP, sustained ${formatMs(durationMs)}`,
    perSecond >= args.num('--target'),
    `${formatInt(perSecond)} /s (×${(perSecond / args.num('--target')).toFixed(2)})`,
  );
}

async function socket(ctx: BenchContext, report: Report): Promise<void> {
  const { args, progress, gauge, fleet, target } = ctx;
  const clients = args.count('--socket-clients');
  const durationMs = args.ms('--socket-duration');
  const rate = args.num('--socket-rate');
  const n = fleet.workers;
  const pushed = { count: 0 };
  progress.phase(`socket: ${formatInt(clients)} SDK clients pushing`, Math.round((rate * durationMs) / 1000), (c) => c.measured - pushed.count);
  const base = (await fleet.counters()).measured;
  pushed.count = base;
  gauge.mark();
  const parts = await fleet.each(
    (w) => ({
      type: 'metric-push',
      target,
      base: w * Math.ceil(clients / n),
      count: Math.max(0, Math.min(Math.ceil(clients / n), clients - w * Math.ceil(clients / n))),
      series: SOCKET_SERIES,
      rate: rate / n,
      durationMs,
      maxPending: args.count('--socket-pending'),
      timeoutMs: Math.min(30_000, remainingMs(ctx)),
    }),
    'metric-pushed',
    durationMs + 60_000,
  );
  const snap = cpuSnapshot(ctx);
  const sum = (f: (p: MetricPushReply) => number) => parts.reduce((a, p) => a + f(p), 0);
  const accepted = sum((p) => p.accepted);
  const refused = sum((p) => p.refused);
  const startUs = Math.min(...parts.map((p) => p.startUs));
  const endUs = Math.max(...parts.map((p) => p.endUs));
  const seconds = Math.max(1e-3, (endUs - startUs) / 1e6);
  const perSecond = accepted / seconds;
  const refusals: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.refusals)) refusals[k] = (refusals[k] ?? 0) + v;
  report.section('Socket, the SDK’s metrics(client).push');
  report.add(
    'socket.clients',
    sum((p) => p.clients),
    'SDK clients',
    `${formatInt(sum((p) => p.clients))} of ${formatInt(clients)} over ${n} worker process${n === 1 ? '' : 'es'}${parts.some((p) => p.errors.length) ? `; ${parts.flatMap((p) => p.errors).join('; ')}` : ''}`,
  );
  report.add(
    'socket.offered',
    sum((p) => p.offered),
    'points pushed',
    `${formatInt(sum((p) => p.offered))} (offered ${formatInt(rate)} /s; ${formatInt(sum((p) => p.heldBack))} held back while a client had ${formatInt(args.count('--socket-pending'))} unanswered)`,
  );
  report.add(
    'socket.heldBack',
    sum((p) => p.heldBack),
  );
  report.add(
    'socket.accepted',
    accepted,
    'points accepted',
    `${formatInt(accepted)}${refused ? `, ${formatInt(refused)} refused ${JSON.stringify(refusals)}` : ''}`,
  );
  report.add('socket.refused', refused);
  report.add('socket.refusals', refusals);
  report.add('socket.seconds', round(seconds, 2));
  report.add('socket.pointsPerSecond', round(perSecond, 0), 'points accepted /s', formatInt(perSecond));
  report.latency('socket.pushLatency', 'push → accepted', Histogram.merge(parts.map((p) => p.latency)));
  cpuPerMillion(report, 'socket', snap, accepted);
  report.check('Socket: every client connected', sum((p) => p.clients) === clients, `${formatInt(sum((p) => p.clients))} of ${formatInt(clients)}`);
  report.check(
    'Socket: every push accepted',
    refused === 0 && accepted > 0 && accepted === sum((p) => p.offered),
    `${formatInt(accepted)} of ${formatInt(sum((p) => p.offered))}`,
  );
  report.target(
    `≥ ${formatInt(args.num('--socket-target'))} points/s over the socket from ${formatInt(clients)} clients`,
    perSecond >= args.num('--socket-target'),
    `${formatInt(perSecond)} /s (×${(perSecond / args.num('--socket-target')).toFixed(2)})`,
  );
}

async function spread(ctx: BenchContext, report: Report): Promise<void> {
  const { args, progress, gauge } = ctx;
  const points = args.count('--spread-batch');
  const labelSets = args.count('--spread-series');
  const durationMs = args.ms('--spread-duration');
  const heap0 = ctx.server.spawned ? await heapOf(ctx) : null;
  const live = new IngestCounter();
  progress.phase(`HTTP rows over ${formatInt(labelSets)} series`, Math.round((args.num('--spread-target') * durationMs) / 1000), () => live.accepted);
  gauge.mark();
  const bodies = spreadBodies(points, labelSets);
  const out = await ingestHttp(ctx, { body: bodies.body, points, parallel: args.count('--parallel'), durationMs }, live);
  const perSecond = httpPhase(report, 'spread', `HTTP, rows over ${formatInt(labelSets)} series`, out, points, cpuSnapshot(ctx));
  report.target(
    `≥ ${formatInt(args.num('--spread-target'))} points/s over ${formatInt(labelSets)} series (rows, batches of ${formatInt(points)})`,
    perSecond >= args.num('--spread-target'),
    `${formatInt(perSecond)} /s (×${(perSecond / args.num('--spread-target')).toFixed(2)})`,
  );
  // Buckets more than 2 s behind their series' newest point are packed: measure once that happened.
  progress.phase('memory: forced GC in the server');
  await sleep(3000);
  const heap1 = heap0 ? await heapOf(ctx) : null;
  const active = Math.min(labelSets, out.accepted);
  report.section('Memory of the spread series');
  if (!heap0 || !heap1) {
    report.add('memory.measured', false, 'live heap per series', 'not measured (a server started elsewhere, or its heap probe did not answer)');
    return;
  }
  const perSeries = (heap1.live - heap0.live) / active;
  const seconds = out.accepted > 0 ? (out.endUs - out.startUs) / 1e6 : 0;
  report.add(
    'memory.method',
    'heapUsed + external after two forced GCs (--expose-gc), every node summed',
    'method',
    'live heap (heapUsed + external) after two forced GCs, before and after',
  );
  report.add('memory.series', active, 'active series', formatInt(active));
  report.add('memory.heapBefore', heap0.live, 'live heap before / after', `${formatBytes(heap0.live)} / ${formatBytes(heap1.live)}`);
  report.add('memory.heapAfter', heap1.live);
  report.add('memory.total', heap1.live - heap0.live, 'their total', formatBytes(heap1.live - heap0.live));
  report.add(
    'memory.perSeries',
    round(perSeries, 0),
    'live heap per series',
    `${formatBytes(perSeries)} (${(seconds ? out.accepted / active / seconds : 0).toFixed(1)} points/s each for ${seconds.toFixed(0)} s)`,
  );
  report.add('memory.rssBefore', heap0.rss, 'RSS before / after', `${formatBytes(heap0.rss)} / ${formatBytes(heap1.rss)}`);
  report.add('memory.rssAfter', heap1.rss);
  report.add('memory.rssPerSeries', round((heap1.rss - heap0.rss) / active, 0), 'RSS per series', formatBytes((heap1.rss - heap0.rss) / active));
  report.target(
    '≤ 48 KB per active series at the default retention',
    perSeries <= 48 * 1024,
    `${formatBytes(perSeries)} after ${seconds.toFixed(0)} s of points (the 1 s buckets fill in 60 s, the 10 s in 5 min, the 1 min in 15 min)`,
  );
}

/**
 * Metric points in: (a) columnar batches into one series over HTTP, N requests in flight;
 * (b) the SDK's batched push over the socket from many clients; (c) row batches spread over
 * many label sets, with the server's live heap per series after forced GCs.
 */
export const metricsIngestScenario: Scenario = {
  name: 'metrics-ingest',
  summary:
    'metric points accepted/s over HTTP (columnar, one series), over the socket (SDK push, 100 clients) and over 10,000 series (rows), server CPU per million points, live heap per series',
  options: [
    { flag: '--duration', kind: 'duration', default: '60s', min: 100, help: '(a) columnar HTTP phase' },
    { flag: '--batch', kind: 'count', default: '10000', help: '(a) points per columnar batch' },
    { flag: '--parallel', kind: 'count', default: '4', help: 'HTTP requests in flight, (a) and (c)' },
    { flag: '--target', kind: 'number', default: '1000000', help: '(a) target, points/s' },
    { flag: '--socket-clients', kind: 'count', min: 0, default: '100', help: '(b) SDK clients pushing (0: no socket phase)' },
    { flag: '--socket-duration', kind: 'duration', default: '20s', min: 100, help: '(b) socket phase' },
    { flag: '--socket-rate', kind: 'number', default: '600000', min: 1, help: '(b) points/s offered over all clients' },
    { flag: '--socket-pending', kind: 'count', default: '500', help: '(b) unanswered points a client may have before it is skipped' },
    { flag: '--socket-target', kind: 'number', default: '500000', help: '(b) target, points/s' },
    { flag: '--spread-series', kind: 'count', min: 0, default: '10000', help: '(c) label sets of the spread series (0: no spread phase)' },
    { flag: '--spread-batch', kind: 'count', default: '5000', help: '(c) rows per batch' },
    { flag: '--spread-duration', kind: 'duration', default: '60s', min: 100, help: '(c) spread phase (the 1 s buckets of a series fill in 60 s)' },
    { flag: '--spread-target', kind: 'number', default: '250000', help: '(c) target, points/s' },
  ],
  connections: (a) => a.count('--socket-clients'),
  // The SDK clients of the socket phase keep one generator process's thread busy well below the target: two share them.
  workers: (a) => (a.count('--socket-clients') > 1 ? 2 : 1),
  estimateMs: (a) => 120_000 + a.ms('--duration') + a.ms('--socket-duration') + a.ms('--spread-duration') + 60_000,
  serverFlags: (a) => metricServerFlags(a.count('--spread-series')),
  heapProbe: () => true,

  async run(ctx) {
    const { args } = ctx;
    const report = new Report('metrics-ingest', args.toJSON());
    const t0 = nowUs();
    await columnar(ctx, report);
    if (args.count('--socket-clients') > 0) await socket(ctx, report);
    if (args.count('--spread-series') > 0) await spread(ctx, report);
    report.section('Server');
    serverWindow(report, ctx);
    report.note(
      `Points are accepted when the server answers their batch (HTTP 200, the SDK's push resolved). Server CPU is utime + stime from /proc over each phase${ctx.server.nodes.length > 1 ? ', summed over the nodes' : ''}; the load generator runs on the same machine (${((nowUs() - t0) / 1e6).toFixed(0)} s in all).`,
    );
    return report;
  },
};
