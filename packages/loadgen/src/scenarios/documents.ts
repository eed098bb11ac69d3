import { randomBytes } from 'node:crypto';
import { type BenchContext, connectFigures, lostFigures, remainingMs, type Scenario, serverWindow } from '../context.js';
import { BenchFailure, BenchUsageError } from '../failure.js';
import { mergeRecords } from '../fleet.js';
import { formatBytes, formatInt, formatMs, formatPct, round } from '../format.js';
import { Histogram } from '../histogram.js';
import type { DocumentTarget, EditReply } from '../ipc.js';
import { updatesPerEditor } from '../light-editor.js';
import { nowUs, sleep } from '../proc.js';
import { Report } from '../report.js';
import { closeSyncClients, openSyncClient } from '../sync-client.js';
import { mintToken } from '../token.js';
import { scanMarkers } from '../yjs-wire.js';

/** The namespace of the document: documents are on there by default. */
const NAMESPACE = 'doc';
/** Editor numbers travel in the markers as three digits. */
const MAX_EDITORS = 999;
/** The lead that lets every worker get the start time before it comes. */
const START_LEAD_MS = 300;

/** The documents endpoint of the server the bench talks to: its WebSocket URL with /documents for /ws. */
function documentsUrl(ctx: BenchContext): string {
  return `${ctx.server.url.replace(/\/ws\/?$/, '').replace(/\/+$/, '')}/documents`;
}

/** Editor ids of worker w: round-robin over the workers. */
const idsOf = (editors: number, workers: number, w: number) => Array.from({ length: editors }, (_, i) => i).filter((i) => i % workers === w);

/** Joiners of worker w: consecutive blocks, as the fleet splits connections. */
function joinShare(count: number, workers: number, w: number): { base: number; count: number } {
  const each = Math.floor(count / workers);
  return { base: w * each + Math.min(w, count % workers), count: each + (w < count % workers ? 1 : 0) };
}

interface EditTotals {
  sent: number;
  deliveries: number;
  expected: number;
  measured: number;
  latency: Histogram;
  maxLagMs: number;
  drainMs: number;
  lost: Record<string, number>;
}

function mergeEdits(parts: readonly EditReply[]): EditTotals {
  const sum = (f: (p: EditReply) => number) => parts.reduce((a, p) => a + f(p), 0);
  return {
    sent: sum((p) => p.sent),
    deliveries: sum((p) => p.deliveries),
    expected: sum((p) => p.expected),
    measured: sum((p) => p.measuredDeliveries),
    latency: Histogram.merge(parts.map((p) => p.histogram)),
    maxLagMs: Math.max(0, ...parts.map((p) => p.maxLagMs)),
    drainMs: Math.max(0, ...parts.map((p) => p.drainMs)),
    lost: mergeRecords(
      parts.map((p) => p.lost),
      'sum',
    ),
  };
}

/** `count` new clients sync the document at once (spread over the workers): each timed to its sync step 2. */
async function joiners(ctx: BenchContext, report: Report, where: DocumentTarget, count: number, sent: number): Promise<void> {
  const { fleet } = ctx;
  ctx.progress.phase(`${formatInt(count)} joining at once`);
  const timeoutMs = Math.min(60_000, remainingMs(ctx));
  const parts = await fleet.each((w) => ({ type: 'join', ...where, ...joinShare(count, fleet.workers, w), timeoutMs }), 'joined', timeoutMs + 10_000);
  const ok = parts.reduce((a, p) => a + p.ok, 0);
  const complete = parts.reduce((a, p) => a + p.markers.filter((n) => n === sent).length, 0);
  const errors = parts.flatMap((p) => p.errors).slice(0, 5);
  report.section(`Joining: ${formatInt(count)} new clients at once`);
  report.add('joiners.requested', count);
  report.add('joiners.synced', ok, 'synced', `${formatInt(ok)} of ${formatInt(count)}${errors.length ? ` (${errors.join('; ')})` : ''}`);
  report.latency('joiners.syncLatency', 'open → sync step 2', Histogram.merge(parts.map((p) => p.latency)));
  const maxBytes = Math.max(0, ...parts.map((p) => p.maxBytes));
  report.add('joiners.stateBytes', maxBytes, 'document state (step 2)', formatBytes(maxBytes));
  report.add('joiners.complete', complete, 'holding every update', `${formatInt(complete)} of ${formatInt(ok)}`);
  report.check('every joiner synced', ok === count, `${formatInt(ok)} of ${formatInt(count)}`);
  report.check("every joiner's document holds every update", complete === count, `${formatInt(complete)} of ${formatInt(count)}`);
}

/** A fresh client syncs the document; every update sent must be in its sync step 2 (one marker each). */
async function documentCheck(ctx: BenchContext, report: Report, where: DocumentTarget, sent: number): Promise<void> {
  const { target } = ctx;
  ctx.progress.phase('checking the document');
  const token = await mintToken(target.secret, { sub: 'checker', tenant: target.tenant, caps: where.caps, ttlSeconds: target.tokenTtlSeconds });
  const client = openSyncClient(
    { wire: 'y-websocket', url: where.url, doc: where.doc, token },
    { timeoutMs: Math.min(60_000, remainingMs(ctx)), label: 'the checking client' },
  );
  let found = 0;
  let detail: string;
  try {
    const state = await client.synced;
    scanMarkers(state.step2, () => found++);
    detail = `${formatInt(found)} of ${formatInt(sent)} updates in the state a fresh client synced (${formatBytes(state.bytes)})`;
  } catch (err) {
    detail = `a fresh client did not sync: ${(err as Error).message}`;
  } finally {
    await closeSyncClients([client]);
  }
  report.section('Document');
  report.add('document.name', where.doc, 'document', where.doc);
  report.add('document.sent', sent);
  report.add('document.found', found, 'updates in a fresh sync', `${formatInt(found)} of ${formatInt(sent)}`);
  report.check('a fresh client’s document holds every update', found === sent, detail);
}

/**
 * Editors of one collaborative document, each a raw WebSocket on the documents endpoint
 * speaking the y-websocket sync protocol with hand-encoded Yjs updates (light-editor.ts), held
 * by the fleet's workers. Every update carries its send time; every editor must receive every
 * other editor's updates. Then, optionally, new clients sync the document at once, and a
 * fresh client checks that its synced state holds every update.
 */
export const documentsScenario: Scenario = {
  name: 'documents',
  summary: 'N editors of one document at R updates/s in all: deliveries/s, send → receipt latency, server CPU per delivery; a fresh sync holds every update',
  options: [
    {
      flag: '--editors',
      kind: 'count',
      default: '50',
      min: 2,
      max: MAX_EDITORS,
      help: `editors of one document ${NAMESPACE}:bench-<random>, each a raw y-websocket client of /documents`,
    },
    { flag: '--rate', kind: 'number', default: '2000', min: 0.1, help: 'updates per second offered over all editors' },
    { flag: '--duration', kind: 'duration', default: '10s', min: 100, help: 'measured editing time' },
    { flag: '--warmup', kind: 'duration', default: '2s', help: 'editing before the measured window (delivered and checked, not timed)' },
    { flag: '--drain', kind: 'duration', default: '10s', help: 'longest wait after the last update for every editor to receive every other editor’s updates' },
    {
      flag: '--joiners',
      kind: 'count',
      min: 0,
      default: '0',
      help: 'new clients that sync the document at once after the edits, timed to their sync step 2 (0: none)',
    },
  ],
  connections: (a) => a.count('--editors') + a.count('--joiners') + 1,
  estimateMs: (a) =>
    90_000 + (a.count('--editors') + a.count('--joiners')) * 20 + (a.ms('--warmup') + a.ms('--duration')) * 2 + a.ms('--drain') + START_LEAD_MS,
  // The per-connection message limit (200/s by default) is raised, as the bench's other limits are.
  serverFlags: () => ['--documents.messages-per-second', '1000000'],

  async run(ctx) {
    const { args, fleet, gauge, progress, target } = ctx;
    const editors = args.count('--editors');
    const rate = args.num('--rate');
    const warmupMs = args.ms('--warmup');
    const durationMs = args.ms('--duration');
    const ratePerEditor = rate / editors;
    const perEditor = updatesPerEditor({ ratePerEditor, warmupMs, durationMs });
    if (perEditor < 1)
      throw new BenchUsageError(`--rate ${rate} over ${editors} editors for ${(warmupMs + durationMs) / 1000} s is less than one update per editor`);
    const report = new Report('documents', args.toJSON());
    const where: DocumentTarget = {
      target,
      url: documentsUrl(ctx),
      doc: `${NAMESPACE}:bench-${randomBytes(4).toString('hex')}`,
      caps: { [`${NAMESPACE}:*`]: ['subscribe', 'publish'] },
      addresses: fleet.addresses,
    };

    progress.phase('opening editors', editors, (c) => c.open + c.failed);
    const openStartUs = nowUs();
    const timeoutMs = Math.min(30_000, remainingMs(ctx));
    const opened = await fleet.each(
      (w) => ({ type: 'editors-open', ...where, ids: idsOf(editors, fleet.workers, w), concurrency: Math.ceil(fleet.concurrency / fleet.workers), timeoutMs }),
      'editors-opened',
      remainingMs(ctx),
    );
    const ok = opened.reduce((a, p) => a + p.ok, 0);
    const open = {
      requested: editors,
      ok,
      failed: editors - ok,
      errors: opened.flatMap((p) => p.errors).slice(0, 5),
      perSecond: ok / Math.max(1e-3, (nowUs() - openStartUs) / 1e6),
      latency: Histogram.merge(opened.map((p) => p.latency)),
    };
    if (ok < editors) throw new BenchFailure(`only ${ok} of ${editors} editors synced the document: ${open.errors.join('; ')}`);

    // Every worker starts at the same moment; the server's CPU is read from the end of the warm-up to the end of the drain.
    const startUs = nowUs() + START_LEAD_MS * 1000;
    const expectedTotal = editors * (editors - 1) * perEditor;
    progress.phase(`editing ${formatInt(rate)}/s`, expectedTotal, (c) => c.received);
    const edited = fleet.each(
      () => ({ type: 'edit', startUs, ratePerEditor, warmupMs, durationMs, drainMs: args.ms('--drain'), totalEditors: editors }),
      'edited',
      remainingMs(ctx),
    );
    edited.catch(() => {});
    await sleep(Math.max(0, (startUs - nowUs()) / 1000 + warmupMs));
    gauge.mark();
    const r = mergeEdits(await edited);

    report.section('Load');
    report.add('editors', editors, 'editors', `${formatInt(editors)} on ${where.doc}`);
    connectFigures(report, 'connect', open);
    report.add(
      'updates.offeredPerSecond',
      rate,
      'updates offered',
      `${formatInt(rate)} /s for ${((warmupMs + durationMs) / 1000).toFixed(1)} s (${(warmupMs / 1000).toFixed(1)} s warm-up)`,
    );
    report.add('updates.sent', r.sent, 'updates sent', `${formatInt(r.sent)} (${formatInt(perEditor)} per editor)`);
    report.add('updates.maxSendLagMs', round(r.maxLagMs, 1), 'sender behind schedule at worst', formatMs(r.maxLagMs));

    report.section('Delivery');
    const pct = r.expected ? (r.deliveries / r.expected) * 100 : 100;
    report.add('delivery.expected', r.expected);
    report.add('delivery.delivered', r.deliveries, 'delivered', `${formatInt(r.deliveries)} of ${formatInt(r.expected)} (${formatPct(pct)})`);
    report.add('delivery.deliveredPct', round(pct, 3));
    report.add('delivery.measured', r.measured);
    const perSecond = r.measured / (durationMs / 1000);
    report.add('delivery.perSecond', round(perSecond, 1), 'deliveries/s (measured window)', formatInt(perSecond));
    const lat = report.latency('delivery.latency', 'send → receipt', r.latency);
    report.add('delivery.drainMs', r.drainMs, 'drain after the last update', formatMs(r.drainMs));
    const lost = lostFigures(report, r.lost);

    report.section('Server');
    serverWindow(report, ctx, r.measured);

    report.check('every editor synced', ok === editors, `${formatInt(ok)} of ${formatInt(editors)}`);
    report.check(
      'every update delivered to every other editor',
      r.deliveries === r.expected && r.expected === expectedTotal && r.sent === editors * perEditor,
      `${formatInt(r.deliveries)} of ${formatInt(expectedTotal)}`,
    );
    report.check('no connection lost', lost === 0, `${formatInt(lost)} lost`);
    report.target('100% delivery with p99 under 50 ms', pct === 100 && lat.p99 < 50, `${formatPct(pct)} delivered, p99 ${formatMs(lat.p99)}`);

    const joinersN = args.count('--joiners');
    if (joinersN > 0) await joiners(ctx, report, where, joinersN, r.sent);
    await documentCheck(ctx, report, where, r.sent);
    report.note(
      'Editors are raw WebSocket clients with hand-encoded Yjs updates (no Y.Doc); bench/documents.ts runs the same editors against Hocuspocus and the y-websocket server.',
    );
    return report;
  },
};
