import { connectFigures, cpuSnapshot, lostFigures, phaseCpu, remainingMs, type Scenario, serverWindow } from '../context.js';
import { formatBytes, formatInt, formatMs, round } from '../format.js';
import { Histogram } from '../histogram.js';
import type { MetricResultsReply } from '../ipc.js';
import { FANOUT_POOL, fanoutBodies, IngestCounter, ingestHttp, metricServerFlags } from '../metric-ingest.js';
import { nowUs, sleep } from '../proc.js';
import { Report } from '../report.js';

const STATS = ['count', 'avg', 'p95', 'max', 'last'];

/**
 * Dashboards: N raw connections, each with one metric subscription of `--series` series (drawn
 * from a pool of 100) at `maxRate`, while the backend ingests points over HTTP at a steady rate
 * into every series of the pool. The last point of each series in each batch carries its send
 * time, so a frame's `last` of a series tells the subscriber when the newest point it carries
 * was sent, and the previous frame's when the oldest it carries could have been sent at most.
 */
export const metricsFanoutScenario: Scenario = {
  name: 'metrics-fanout',
  summary:
    'dashboards: N metric subscriptions × 20 series at maxRate while points are ingested at 100,000/s: point → frame p99, frames above the cap, bytes per series update',
  options: [
    { flag: '--subscribers', kind: 'count', default: '1000', help: 'connections, each with one metric subscription' },
    { flag: '--series', kind: 'count', default: '20', max: 32, help: `series per subscription (from a pool of ${FANOUT_POOL})` },
    { flag: '--max-rate', kind: 'count', default: '10', max: 10, help: 'maxRate of every subscription (frames per second)' },
    { flag: '--rate', kind: 'number', default: '100000', min: 100, help: 'points ingested per second over HTTP, over every series of the pool' },
    { flag: '--batch', kind: 'count', default: '1000', help: 'points per ingest request (a multiple of 100: a block per series of the pool)' },
    { flag: '--parallel', kind: 'count', default: '8', help: 'ingest requests in flight at most' },
    { flag: '--duration', kind: 'duration', default: '30s', min: 100, help: 'measured window' },
    { flag: '--warmup', kind: 'duration', default: '3s', help: 'ingest before the measured window (not counted)' },
  ],
  connections: (a) => a.count('--subscribers'),
  // Subscribing goes at ~30/s on a loaded 2-core machine: give it 50 ms each.
  estimateMs: (a) => 120_000 + a.count('--subscribers') * 50 + a.ms('--duration') + a.ms('--warmup'),
  serverFlags: () => metricServerFlags(0),

  async run(ctx) {
    const { args, fleet, gauge, progress, target } = ctx;
    const report = new Report('metrics-fanout', args.toJSON());
    const subscribers = args.count('--subscribers');
    const maxRate = args.count('--max-rate');
    const perSeries = Math.max(1, Math.round(args.count('--batch') / FANOUT_POOL));
    const points = perSeries * FANOUT_POOL;
    const requestRate = args.num('--rate') / points;
    const pool = Array.from({ length: FANOUT_POOL }, (_, i) => `bench.f${i}`);

    progress.phase('subscribing', subscribers, (c) => c.open + c.failed);
    const n = fleet.workers;
    const per = Math.ceil(subscribers / n);
    const t0 = nowUs();
    const opened = await fleet.each(
      (w) => ({
        type: 'metric-watch',
        target,
        base: w * per,
        count: Math.max(0, Math.min(per, subscribers - w * per)),
        pool,
        perWatcher: args.count('--series'),
        stats: STATS,
        maxRate,
        window: '10s',
        ingestIntervalMs: 1000 / requestRate,
        addresses: fleet.addresses,
        concurrency: Math.ceil(fleet.concurrency / n),
        timeoutMs: Math.min(30_000, remainingMs(ctx)),
      }),
      'metric-watching',
      remainingMs(ctx),
    );
    const ok = opened.reduce((a, o) => a + o.ok, 0);
    const openSeconds = Math.max(1e-3, (nowUs() - t0) / 1e6);

    // Ingest runs through the warm-up and the measured window, one loop.
    const live = new IngestCounter();
    let stopIngest = false;
    const durationMs = args.ms('--duration');
    const warmupMs = args.ms('--warmup');
    progress.phase(`warming up: ingest ${formatInt(args.num('--rate'))} points/s`);
    const ingest = ingestHttp(
      ctx,
      {
        body: fanoutBodies(perSeries),
        points,
        parallel: args.count('--parallel'),
        durationMs: warmupMs + durationMs + 60_000,
        rate: requestRate,
        stop: () => stopIngest,
      },
      live,
    );
    await sleep(warmupMs);
    await fleet.all({ type: 'reset' }, 'reset', 10_000);
    gauge.mark();
    const acceptedAtStart = live.accepted;
    const startUs = nowUs();
    progress.phase(`measuring ${formatMs(durationMs)}`, Math.round((durationMs / 1000) * subscribers * maxRate), (c) => c.measured);
    await sleep(durationMs);
    const parts = await fleet.all({ type: 'metric-results' }, 'metric-results', 30_000);
    const snap = cpuSnapshot(ctx);
    const seconds = (nowUs() - startUs) / 1e6;
    const ingested = live.accepted - acceptedAtStart;
    stopIngest = true;
    const out = await ingest;

    const sum = (f: (p: MetricResultsReply) => number) => parts.reduce((a, p) => a + f(p), 0);
    const frames = sum((p) => p.frames);
    const seriesUpdates = sum((p) => p.seriesUpdates);
    const bytes = sum((p) => p.bytes);
    const oldest = Histogram.merge(parts.map((p) => p.oldest));
    const newest = Histogram.merge(parts.map((p) => p.newest));
    const closer = sum((p) => p.closerThanInterval);
    const aboveCap = sum((p) => p.aboveCapPerSecond);
    const lost: Record<string, number> = {};
    for (const p of parts) for (const [k, v] of Object.entries(p.lost)) lost[k] = (lost[k] ?? 0) + v;

    report.section('Load');
    connectFigures(report, 'subscribe', {
      requested: subscribers,
      ok,
      failed: subscribers - ok,
      perSecond: ok / openSeconds,
      errors: opened.flatMap((o) => o.errors).slice(0, 5),
      latency: Histogram.merge(opened.map((o) => o.latency)),
    });
    const rates = [...new Set(opened.flatMap((o) => o.rates))];
    report.add(
      'subscriptions',
      { series: args.count('--series'), maxRate, rates, stats: STATS },
      'each subscription',
      `${args.count('--series')} series of ${FANOUT_POOL}, 1 s buckets, maxRate ${maxRate} (the reply said ${rates.join(', ')}), stats ${STATS.join(', ')}`,
    );
    const ingestSeconds = Math.max(1e-3, (out.endUs - out.startUs) / 1e6);
    report.add(
      'ingest.pointsPerSecond',
      round(ingested / seconds, 0),
      'points ingested /s (measured window)',
      `${formatInt(ingested / seconds)} (offered ${formatInt(args.num('--rate'))}: ${formatInt(requestRate)} requests/s of ${formatInt(points)} points over HTTP)`,
    );
    report.add(
      'ingest.requests',
      out.requests,
      'ingest requests',
      `${formatInt(out.requests)} in ${ingestSeconds.toFixed(1)} s${out.refusedRequests ? `, ${formatInt(out.refusedRequests)} refused ${JSON.stringify(out.refusals)}` : ''}${out.late ? `, ${formatInt(out.late)} sent late (${args.count('--parallel')} in flight)` : ''}`,
    );
    report.latency('ingest.requestLatency', 'ingest request time', out.latency);

    report.section('Frames');
    report.add('frames.total', frames, 'live frames', `${formatInt(frames)} = ${(frames / Math.max(1, ok) / seconds).toFixed(2)} per subscriber per second`);
    report.add('frames.perSubscriberPerSecond', round(frames / Math.max(1, ok) / seconds, 3));
    report.add('frames.minPerSubscriber', Math.min(...parts.filter((p) => p.watchers > 0).map((p) => p.minFramesPerWatcher)));
    report.add(
      'frames.seriesUpdates',
      seriesUpdates,
      'series updates in them',
      `${formatInt(seriesUpdates)} (${(seriesUpdates / Math.max(1, frames)).toFixed(1)} per frame; ${formatInt(sum((p) => p.bucketUpdates))} buckets)`,
    );
    report.add('frames.bytes', bytes, 'bytes of live frames', `${formatBytes(bytes)} = ${formatBytes(bytes / Math.max(1, ok) / seconds)}/s per subscriber`);
    const perUpdate = bytes / Math.max(1, seriesUpdates);
    report.add(
      'frames.bytesPerSeriesUpdate',
      round(perUpdate, 1),
      'bytes per series update',
      `${perUpdate.toFixed(1)} (${(bytes / Math.max(1, frames)).toFixed(0)} per frame)`,
    );
    report.add(
      'frames.skipped',
      sum((p) => p.skipped),
      'updates skipped (backpressure)',
      formatInt(sum((p) => p.skipped)),
    );
    report.add('frames.closerThanInterval', closer, `frames < ${formatMs(1000 / maxRate)} after the previous (server clock)`, formatInt(closer));
    report.add(
      'frames.aboveCap',
      aboveCap,
      `frames beyond ${maxRate} in one second`,
      `${formatInt(aboveCap)} (most in one second: ${Math.max(...parts.map((p) => p.maxPerSecond))})`,
    );
    const lOld = report.latency('latency.oldest', 'point → frame (oldest point)', oldest);
    report.latency('latency.newest', 'point → frame (newest point)', newest);
    const lostTotal = lostFigures(report, lost);

    report.section('Server');
    phaseCpu(report, 'window', snap, seriesUpdates, 'series update');
    serverWindow(report, ctx);

    const pushMs = 1000 / maxRate;
    report.check('every subscription opened', ok === subscribers, `${formatInt(ok)} of ${formatInt(subscribers)}`);
    report.check(
      'every ingest batch accepted',
      out.refusedRequests === 0 && out.accepted > 0,
      `${formatInt(out.acceptedRequests)} of ${formatInt(out.requests)}`,
    );
    report.check('frames arrived', frames > 0 && oldest.count > 0, `${formatInt(frames)} frames`);
    report.check('no connection lost', lostTotal === 0, `${formatInt(lostTotal)} lost`);
    const extra = ctx.server.nodes.length > 1 ? ' (+ metrics.pushInterval, 1 s, for points ingested on another node)' : '';
    const bound = pushMs + 50 + (ctx.server.nodes.length > 1 ? 1000 : 0);
    report.target(
      `p99 point → frame ≤ push interval + 50 ms = ${formatMs(bound)}${extra}`,
      lOld.count > 0 && lOld.p99 <= bound,
      `p99 ${formatMs(lOld.p99)} (oldest point of each update)`,
    );
    report.target(
      '0 frames above any subscriber’s cap',
      closer === 0 && aboveCap === 0,
      `${formatInt(closer)} too close, ${formatInt(aboveCap)} beyond ${maxRate} in a second`,
    );
    report.target(
      `≥ ${formatInt(args.num('--rate'))} points/s ingested meanwhile`,
      ingested / seconds >= args.num('--rate') * 0.98,
      formatInt(ingested / seconds),
    );
    report.note(
      `Latency: every ingest block ends with a point whose value is its send time (CLOCK_MONOTONIC ms, one clock for every process here; every point of a request is sent with it), so a series update’s \`last\` is the send time of the newest point it carries; its oldest new point came in the request after the one of the previous update’s \`last\`, sent ${formatMs(1000 / requestRate)} later (paced). Frame caps are checked on the frames’ \`at\` (the server’s clock).`,
    );
    return report;
  },
};
