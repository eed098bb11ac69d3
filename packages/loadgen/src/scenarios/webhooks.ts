import { OpCounter } from '../activities.js';
import { type BenchContext, cpuSnapshot, phaseCpu, remainingMs, type Scenario, serverWindow } from '../context.js';
import { BenchFailure } from '../failure.js';
import { formatInt, formatMs, round } from '../format.js';
import { nowUs, sleep } from '../proc.js';
import { Report } from '../report.js';
import { WebhookSink } from '../webhook-sink.js';
import { runForgedStorm } from './webhooks-forged.js';

/** A small seeded generator (mulberry32): the failing receiver fails the same requests run after run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Phase {
  key: string;
  title: string;
  events: number;
  batch: { windowMs: number; maxEvents: number } | null;
  failRate: number;
  /** Warm-up: run, checked for loss, not reported. */
  warmup?: boolean;
  /**
   * From a backlog: the receiver answers 503 while the events are made, then answers again;
   * the rate is from its first 2xx to its last request (the delivery pipeline without the
   * notifications API in front of it).
   */
  backlog?: boolean;
}

/** The HTTP API of the server under test, as the backend calls it. */
function api(ctx: BenchContext) {
  const { server, target } = ctx;
  if (!server.apiKey) throw new BenchFailure('the webhooks scenario needs an API key (--api-key) for a server started elsewhere');
  const headers = { authorization: `Bearer ${server.apiKey}`, 'x-switchboard-tenant': target.tenant, 'content-type': 'application/json' };
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${server.httpUrl}/api/v1${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
}

/**
 * One phase: an endpoint of its own pointing at the sink, `events` notification.created
 * events (notifications created over the HTTP API, `--recipients` per request, each event
 * committed with its notification and its message), then a wait until the sink has every
 * one of them answered 2xx; the endpoint is deleted after.
 */
async function runPhase(ctx: BenchContext, report: Report, sink: WebhookSink, phase: Phase): Promise<void> {
  const { args, progress } = ctx;
  const call = api(ctx);
  sink.reset();
  sink.failRate = phase.failRate;
  const created = await call('POST', '/webhooks/endpoints', {
    url: sink.url,
    events: ['notification.created'],
    description: `bench ${phase.key}`,
    ...(phase.batch ? { batch: phase.batch } : {}),
  });
  if (created.status !== 201) throw new BenchFailure(`creating the endpoint: HTTP ${created.status} ${JSON.stringify(created.body)}`);
  const id = created.body['id'] as string;
  sink.secret = created.body['secret'] as string;
  try {
    ctx.gauge.mark();
    const ops = new OpCounter();
    const startUs = nowUs();
    // Events come as the server makes them: notification.created, one per recipient, each
    // committed in the transaction that stores its notification.
    const perRequest = args.count('--recipients');
    const requests = Math.ceil(phase.events / perRequest);
    // Paced (`--rate`): request k is sent at its time, or as soon as a lane is free after it.
    const rate = args.num('--rate');
    const intervalUs = rate > 0 ? (perRequest / rate) * 1e6 : 0;
    let next = 0;
    let created = 0;
    const lane = async (): Promise<void> => {
      while (next < requests && nowUs() < ctx.deadlineUs) {
        const k = next++;
        const at = startUs + k * intervalUs;
        if (at > nowUs()) await sleep((at - nowUs()) / 1000);
        const users = Array.from({ length: Math.min(perRequest, phase.events - k * perRequest) }, (_, j) => `wh${phase.key}${k * perRequest + j}`);
        await ops.track(
          null,
          call('POST', '/notifications', { users, type: 'system', title: `bench ${phase.key} ${k}` }).then((r) => {
            if (r.status !== 201) throw new Error(`HTTP ${r.status}`);
            created += users.length;
          }),
        );
      }
    };
    progress.phase(`${phase.title}: creating ${formatInt(phase.events)} events`);
    sink.down = phase.backlog === true;
    await Promise.all(Array.from({ length: Math.min(args.count('--parallel'), requests) }, lane));
    const createSeconds = Math.max(1e-3, (nowUs() - startUs) / 1e6);
    const returnUs = nowUs();
    if (phase.backlog) {
      ctx.gauge.mark();
      sink.up();
    }
    progress.phase(`${phase.title}: waiting for the receiver`);
    const end = nowUs() + Math.min(args.ms('--drain'), remainingMs(ctx)) * 1000;
    while (sink.delivered() < created && nowUs() < end) await sleep(50);
    const delivered = sink.delivered();
    const fromUs = phase.backlog ? sink.firstOkUs || returnUs : startUs;
    const seconds = Math.max(1e-3, ((sink.lastUs || nowUs()) - fromUs) / 1e6);
    const snap = cpuSnapshot(ctx);

    if (phase.warmup) {
      if (ops.failed > 0 || delivered !== phase.events || sink.resentAfterOk > 0 || sink.duplicates() > 0 || sink.badSignatures > 0)
        throw new BenchFailure(`the warm-up lost or repeated events: ${delivered} of ${phase.events} delivered, ${ops.failed} create requests refused`);
      return;
    }
    report.section(phase.title);
    report.add(
      `${phase.key}.created`,
      created,
      'events created',
      `${formatInt(created)} in ${createSeconds.toFixed(2)} s = ${formatInt(created / createSeconds)} /s (${perRequest} per request)${ops.failed ? `, ${formatInt(ops.failed)} requests refused ${JSON.stringify(ops.errors)}` : ''}`,
    );
    report.add(`${phase.key}.delivered`, delivered, 'events delivered (2xx)', `${formatInt(delivered)} of ${formatInt(created)}`);
    report.add(
      `${phase.key}.perSecond`,
      round(delivered / seconds, 1),
      'events delivered /s',
      `${formatInt(delivered / seconds)} (${phase.backlog ? 'first 2xx → last request' : 'first create → last request'})`,
    );
    if (phase.backlog) {
      const wait = sink.firstOkUs > 0 ? (sink.firstOkUs - returnUs) / 1e6 : Number.NaN;
      report.add(
        `${phase.key}.firstOkSeconds`,
        round(wait, 2),
        'receiver back → first 2xx',
        `${wait.toFixed(2)} s (the probe's or a retry's, whichever comes first)`,
      );
      report.add(`${phase.key}.refusedRequests`, sink.refusedRequests, 'requests answered 503 while the events were made', formatInt(sink.refusedRequests));
    }
    report.add(
      `${phase.key}.requests`,
      sink.requests,
      'requests',
      `${formatInt(sink.requests)}${sink.failedRequests ? `, ${formatInt(sink.failedRequests)} answered 500 on purpose` : ''}`,
    );
    report.add(`${phase.key}.duplicates`, sink.duplicates(), 'events answered 2xx twice', formatInt(sink.duplicates()));
    report.add(`${phase.key}.resentAfterOk`, sink.resentAfterOk, 'events sent again after a 2xx', formatInt(sink.resentAfterOk));
    report.add(`${phase.key}.badSignatures`, sink.badSignatures);
    // From a backlog, the latency is the outage's: not reported.
    const lat = phase.backlog ? null : report.latency(`${phase.key}.latency`, 'commit → receiver, first byte', sink.latency);
    phaseCpu(report, phase.key, snap, delivered, 'event');
    report.check(
      `${phase.title}: every event delivered`,
      ops.failed === 0 && delivered === phase.events,
      `${formatInt(delivered)} of ${formatInt(phase.events)}`,
    );
    report.check(`${phase.title}: nothing re-sent after a 2xx`, sink.resentAfterOk === 0 && sink.duplicates() === 0, `${sink.resentAfterOk} re-sent`);
    report.check(`${phase.title}: every signature verified`, sink.badSignatures === 0, `${sink.badSignatures} bad`);
    if (phase.failRate === 0 && phase.batch === null) {
      report.target('≥ 2,000 deliveries/s, one event per request', delivered / seconds >= 2000, `${formatInt(delivered / seconds)} /s`);
      report.target('p99 commit → receiver ≤ 250 ms', lat !== null && lat.count > 0 && lat.p99 <= 250, `p99 ${lat ? formatMs(lat.p99) : '–'}`);
    }
    if (phase.batch)
      report.target(
        phase.backlog ? '≥ 20,000 events/s batched, from a backlog' : '≥ 20,000 events/s batched, end to end (made by the notifications API meanwhile)',
        delivered / seconds >= 20_000,
        `${formatInt(delivered / seconds)} /s`,
      );
  } finally {
    await call('DELETE', `/webhooks/endpoints/${id}`).catch(() => {});
  }
}

/**
 * The backlog drain: the receiver answers 503 to everything for `--outage` while events are
 * made at `--outage-rate` per second (one create request per `--recipients` events, paced),
 * then it answers again and no more events are made. The backlog is what was made during the
 * outage; the drain is the time from the receiver's return to the 2xx of its last event,
 * every event delivered once (0 lost, 0 answered 2xx twice).
 */
async function runOutage(ctx: BenchContext, report: Report, sink: WebhookSink, outageMs: number): Promise<void> {
  const { args, progress } = ctx;
  const call = api(ctx);
  sink.reset();
  const batched = args.count('--outage-batch') > 0;
  const created = await call('POST', '/webhooks/endpoints', {
    url: sink.url,
    events: ['notification.created'],
    description: 'bench outage',
    ...(batched ? { batch: { windowMs: args.ms('--batch-window'), maxEvents: args.count('--outage-batch') } } : {}),
  });
  if (created.status !== 201) throw new BenchFailure(`creating the endpoint: HTTP ${created.status} ${JSON.stringify(created.body)}`);
  const id = created.body['id'] as string;
  sink.secret = created.body['secret'] as string;
  try {
    sink.down = true;
    const perRequest = args.count('--recipients');
    const rate = args.num('--outage-rate');
    const intervalUs = (perRequest / rate) * 1e6;
    const ops = new OpCounter();
    const inFlight = new Set<Promise<void>>();
    const startUs = nowUs();
    const endUs = Math.min(startUs + outageMs * 1000, ctx.deadlineUs);
    let made = 0;
    progress.phase(`Backlog drain: receiver down for ${formatMs(outageMs)}, ${formatInt(rate)} events/s`);
    for (let k = 0; startUs + k * intervalUs < endUs; k++) {
      const at = startUs + k * intervalUs;
      if (at > nowUs()) await sleep((at - nowUs()) / 1000);
      // Paced, not closed-loop: a slow answer does not lower the rate (a bounded number in flight).
      while (inFlight.size >= args.count('--parallel')) await Promise.race(inFlight);
      const users = Array.from({ length: perRequest }, (_, j) => `whoutage${k * perRequest + j}`);
      const p = ops
        .track(
          null,
          call('POST', '/notifications', { users, type: 'system', title: `bench outage ${k}` }).then((r) => {
            if (r.status !== 201) throw new Error(`HTTP ${r.status}`);
            made += users.length;
          }),
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
    const outageSeconds = (nowUs() - startUs) / 1e6;
    const deliveredDuringOutage = sink.delivered();
    ctx.gauge.mark();
    sink.up();
    const returnUs = nowUs();
    progress.phase(`Backlog drain: ${formatInt(made)} events waiting, receiver back`);
    const end = returnUs + Math.min(args.ms('--drain'), remainingMs(ctx)) * 1000;
    while (sink.delivered() < made && nowUs() < end) await sleep(50);
    const delivered = sink.delivered();
    const drainSeconds = Math.max(0, ((sink.lastUs || nowUs()) - returnUs) / 1e6);
    const snap = cpuSnapshot(ctx);

    report.section(batched ? `Backlog drain, batched (${args.count('--outage-batch')} events per request)` : 'Backlog drain');
    report.add(
      'outage.created',
      made,
      'events made during the outage (the backlog)',
      `${formatInt(made)} in ${outageSeconds.toFixed(1)} s = ${formatInt(made / Math.max(1e-3, outageSeconds))} /s${ops.failed ? `, ${formatInt(ops.failed)} requests refused ${JSON.stringify(ops.errors)}` : ''}`,
    );
    report.add('outage.refusedRequests', sink.refusedRequests, 'requests answered 503 during the outage', formatInt(sink.refusedRequests));
    report.add('outage.delivered', delivered, 'events delivered (2xx)', `${formatInt(delivered)} of ${formatInt(made)}`);
    report.add('outage.drainSeconds', round(drainSeconds, 2), 'receiver back → last event delivered', `${drainSeconds.toFixed(1)} s`);
    report.add(
      'outage.perSecond',
      round(delivered / Math.max(1e-3, drainSeconds), 1),
      'events delivered /s while draining',
      formatInt(delivered / Math.max(1e-3, drainSeconds)),
    );
    const fromOk = sink.firstOkUs > 0 ? Math.max(1e-3, (sink.lastUs - sink.firstOkUs) / 1e6) : Number.NaN;
    const firstOk = sink.firstOkUs > 0 ? (sink.firstOkUs - returnUs) / 1e6 : Number.NaN;
    report.add(
      'outage.firstOkSeconds',
      round(firstOk, 2),
      'receiver back → first 2xx',
      `${firstOk.toFixed(2)} s (the probe's or a retry's, whichever comes first)`,
    );
    report.add('outage.perSecondFromFirstOk', round(delivered / fromOk, 1), 'events delivered /s from the first 2xx', formatInt(delivered / fromOk));
    report.add('outage.duplicates', sink.duplicates(), 'events answered 2xx twice', formatInt(sink.duplicates()));
    report.add('outage.resentAfterOk', sink.resentAfterOk, 'events sent again after a 2xx', formatInt(sink.resentAfterOk));
    report.add('outage.badSignatures', sink.badSignatures);
    phaseCpu(report, 'outage', snap, delivered, 'event');
    report.check(
      'Backlog drain: every event delivered',
      ops.failed === 0 && delivered === made && deliveredDuringOutage === 0,
      `${formatInt(delivered)} of ${formatInt(made)}`,
    );
    report.check('Backlog drain: nothing re-sent after a 2xx', sink.resentAfterOk === 0 && sink.duplicates() === 0, `${sink.resentAfterOk} re-sent`);
    report.check('Backlog drain: every signature verified', sink.badSignatures === 0, `${sink.badSignatures} bad`);
    // The issue's target is for a 10-minute outage; a shorter one is held to the same ratio.
    const target = Math.min(60, (60 * outageMs) / 600_000);
    report.target(
      `backlog drained ≤ ${target.toFixed(0)} s after the receiver returns (60 s after 10 minutes)`,
      delivered === made && drainSeconds <= target,
      `${drainSeconds.toFixed(1)} s for ${formatInt(made)} events`,
    );
  } finally {
    await call('DELETE', `/webhooks/endpoints/${id}`).catch(() => {});
  }
}

/**
 * Webhooks to one local receiver that checks every signature: events/s one per request and
 * batched, commit → receiver latency, and a receiver that fails a share of requests at random
 * (every event delivered, none sent again after a 2xx), then the backlog drain after an outage,
 * then a connect storm of forged tokens (the audit rows it writes, good connects meanwhile).
 * The started server allows loopback endpoints and retries on a short schedule (1 s, 2 s, 4 s,
 * … 60 s, then 5 min, 30 min, 2 h, 5 h, so an outage's messages outlive it) so the failing phase settles.
 */
export const webhooksScenario: Scenario = {
  name: 'webhooks',
  summary:
    'webhook deliveries/s one per request and batched, commit → receiver p99, a receiver failing 20 % at random (0 lost, 0 re-sent), the backlog drain after an outage, and a storm of forged tokens (audit rows bounded, good connects meanwhile)',
  options: [
    { flag: '--events', kind: 'count', default: '20000', help: 'events of the one-per-request and the batched phases, each' },
    { flag: '--warmup', kind: 'count', min: 0, default: '5000', help: 'events delivered one per request before the measured phases, not reported (0: none)' },
    { flag: '--failing-events', kind: 'count', min: 0, default: '5000', help: 'events of the failing-receiver phase (0: none)' },
    { flag: '--fail-rate', kind: 'number', default: '0.2', help: 'share of requests the failing receiver answers 500' },
    { flag: '--batch-window', kind: 'duration', default: '100ms', help: 'windowMs of the batched endpoint' },
    { flag: '--batch-size', kind: 'count', default: '500', help: 'maxEvents of the batched endpoint' },
    { flag: '--recipients', kind: 'count', default: '20', help: 'users per POST /api/v1/notifications: one notification.created event each' },
    { flag: '--parallel', kind: 'count', default: '8', help: 'create requests in flight' },
    {
      flag: '--rate',
      kind: 'number',
      min: 0,
      default: '0',
      help: 'events made per second in the one-per-request, batched and failing phases (0: as fast as the server takes the create requests)',
    },
    { flag: '--drain', kind: 'duration', default: '120s', help: 'longest wait for the receiver after the last create' },
    { flag: '--outage', kind: 'duration', default: '10m', help: 'backlog drain: how long the receiver answers 503 while events are made (0: no such phase)' },
    { flag: '--outage-rate', kind: 'number', default: '180', min: 0.1, help: 'events made per second during the outage' },
    {
      flag: '--outage-batch',
      kind: 'count',
      min: 0,
      default: '0',
      help: 'backlog drain to a batching endpoint of at most this many events per request (0: one event per request)',
    },
    {
      flag: '--forged',
      kind: 'count',
      min: 0,
      default: '10000',
      help: 'connects with forged tokens in the storm phase, after the webhooks phases (0: no such phase)',
    },
    { flag: '--forged-concurrency', kind: 'count', default: '50', help: 'forged connects in flight at once' },
    { flag: '--forged-baseline', kind: 'duration', default: '3s', help: 'how long the good-token connects run alone before the storm' },
    {
      flag: '--audit-rows-per-ip',
      kind: 'count',
      default: '20',
      help: "the server's audit.rowsPerIpPerMinute: the bound the storm's audit rows are checked against",
    },
  ],
  connections: () => 0,
  estimateMs: (a) =>
    120_000 +
    (a.count('--events') * 3 + a.count('--failing-events') + a.count('--warmup')) * 2 +
    a.ms('--drain') * 4 +
    a.ms('--outage') +
    (a.count('--forged') > 0 ? 150_000 + a.count('--forged') * 2 + a.ms('--forged-baseline') : 0),
  serverFlags: () => [
    '--webhooks.allow-networks',
    '127.0.0.1/32',
    '--webhooks.retry-schedule',
    '1s,2s,4s,8s,16s,30s,60s,5m,30m,2h,5h',
    '--webhooks.probe-interval',
    '2s',
  ],

  async run(ctx) {
    const { args } = ctx;
    const report = new Report('webhooks', args.toJSON());
    const sink = await WebhookSink.start(seeded(20261205));
    try {
      const events = args.count('--events');
      // A cold server (code not yet optimised, caches empty) falls behind in its first seconds
      // and a paced phase then spends seconds catching up: warm it first, unmeasured.
      const warmup = args.count('--warmup');
      if (warmup > 0) await runPhase(ctx, report, sink, { key: 'warmup', title: 'Warm-up', events: warmup, batch: null, failRate: 0, warmup: true });
      await runPhase(ctx, report, sink, { key: 'single', title: 'One event per request', events, batch: null, failRate: 0 });
      const batch = { windowMs: args.ms('--batch-window'), maxEvents: args.count('--batch-size') };
      await runPhase(ctx, report, sink, { key: 'batched', title: 'Batched', events, batch, failRate: 0 });
      await runPhase(ctx, report, sink, { key: 'backlog', title: 'Batched, from a backlog', events, batch, failRate: 0, backlog: true });
      const failing = args.count('--failing-events');
      if (failing > 0) {
        await runPhase(ctx, report, sink, {
          key: 'failing',
          title: `Receiver failing ${Math.round(args.num('--fail-rate') * 100)} %`,
          events: failing,
          batch: null,
          failRate: args.num('--fail-rate'),
        });
      }
      const outage = args.ms('--outage');
      if (outage > 0) await runOutage(ctx, report, sink, outage);
      if (args.count('--forged') > 0) await runForgedStorm(ctx, report);
      report.section('Server');
      serverWindow(report, ctx);
    } finally {
      await sink.close();
    }
    report.note(
      'The receiver runs in the bench process on the same machine; latency is from the event’s commit time (the server’s clock, ms) to the first byte of the first request that carried it.',
    );
    return report;
  },
};
