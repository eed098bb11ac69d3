import { availableParallelism } from 'node:os';
import type { Fleet } from './fleet.js';
import { formatBytes, formatInt, formatPct, round } from './format.js';
import type { Target } from './ipc.js';
import type { BenchArgs, OptionDef } from './options.js';
import { type CpuFigure, nowUs, type ServerGauge, sleep } from './proc.js';
import type { Progress } from './progress.js';
import type { Report } from './report.js';
import type { BenchServer } from './target.js';

/** Everything a scenario runs with. */
export interface BenchContext {
  args: BenchArgs;
  server: BenchServer;
  target: Target;
  fleet: Fleet;
  gauge: ServerGauge;
  progress: Progress;
  /** CLOCK_MONOTONIC µs by which the whole run must be over. */
  deadlineUs: number;
}

export interface Scenario {
  name: string;
  summary: string;
  options: OptionDef[];
  /** Connections it holds at most (sizes workers, source addresses and the open-files check). */
  connections(args: BenchArgs): number;
  /** A generous bound of its run time, for the default `--timeout`. */
  estimateMs(args: BenchArgs): number;
  /** Load-generator processes without `--workers`, when the scenario's clients need more than one (default: by connections). */
  workers?(args: BenchArgs): number;
  /** Flags the server the bench starts needs for this scenario (before the user's `--server-flag`s). */
  serverFlags?(args: BenchArgs): string[];
  /** Start the bench's servers with the heap probe (`BenchNode.heap()`: live heap after forced GCs). */
  heapProbe?(args: BenchArgs): boolean;
  run(ctx: BenchContext): Promise<Report>;
}

/** Time left before the run's deadline, ms (at least 1). */
export function remainingMs(ctx: BenchContext): number {
  return Math.max(1, Math.floor((ctx.deadlineUs - nowUs()) / 1000));
}

type Counters = Awaited<ReturnType<Fleet['counters']>>;

/**
 * Wait until the workers counted `expected` (measured publications and presence events by
 * default), nothing new arrived for `quietMs`, or `maxMs` passed. Returns the count.
 */
export async function drain(
  ctx: BenchContext,
  expected: number,
  maxMs: number,
  quietMs = 5000,
  pick: (c: Counters) => number = (c) => c.measured + c.presenceEvents,
): Promise<number> {
  const end = nowUs() + Math.min(maxMs, remainingMs(ctx)) * 1000;
  let last = -1;
  let lastChange = nowUs();
  for (;;) {
    const c = await ctx.fleet.counters(5000);
    const seen = pick(c);
    if (seen >= expected) return seen;
    if (seen !== last) {
      last = seen;
      lastChange = nowUs();
    }
    if (nowUs() > end || nowUs() - lastChange > quietMs * 1000) return seen;
    await sleep(100);
  }
}

/** CPU of the load generator and of other processes over the measured window (or a snapshot of them taken earlier). */
export function machineFigures(
  report: Report,
  ctx: BenchContext,
  at: { generator: CpuFigure; others: CpuFigure | null } = { generator: ctx.gauge.generatorCpu(), others: ctx.gauge.othersCpu() },
): void {
  const gen = at.generator;
  report.add(
    'generator.cpuSeconds',
    round(gen.seconds, 2),
    'load generator CPU',
    `${gen.seconds.toFixed(2)} s = ${Math.round(gen.pct)}% of one core (${ctx.fleet.pids.length} worker${ctx.fleet.pids.length === 1 ? '' : 's'} + this process)`,
  );
  report.add('generator.cpuPct', round(gen.pct, 1));
  const others = at.others;
  if (others)
    report.add(
      'otherProcesses.cpuPct',
      round(others.pct, 1),
      'other processes',
      `${Math.round(others.pct)}% of one core (they share the ${availableParallelism()} CPUs with the run)`,
    );
}

/** The server's CPU over a measured window, per delivery when given, its RSS now, and the machine's other CPU use. */
export function serverWindow(report: Report, ctx: BenchContext, deliveries?: number, unit = 'delivery'): void {
  const cpu = ctx.gauge.cpu();
  const rss = ctx.gauge.rss();
  machineFigures(report, ctx);
  if (!cpu) {
    report.add('server.measured', false, 'server CPU / RSS', 'not measured (give --server-pid for a server started elsewhere)');
    return;
  }
  report.add('server.cpuSeconds', round(cpu.seconds, 2), 'server CPU (measured window)', `${cpu.seconds.toFixed(2)} s = ${Math.round(cpu.pct)}% of one core`);
  report.add('server.cpuPct', round(cpu.pct, 1));
  if (deliveries !== undefined && deliveries > 0) {
    const us = (cpu.seconds * 1e6) / deliveries;
    report.add('server.cpuUsPerDelivery', round(us, 2), `server CPU per ${unit}`, `${us.toFixed(2)} µs`);
  }
  if (rss !== null) report.add('server.rssBytes', rss, 'server RSS', formatBytes(rss));
}

/** Connection figures of an open phase. */
export function connectFigures(
  report: Report,
  key: string,
  o: { requested: number; ok: number; failed: number; perSecond: number; errors: string[]; latency: import('./histogram.js').Histogram },
): void {
  const pct = o.requested ? (o.ok / o.requested) * 100 : 0;
  report.add(`${key}.requested`, o.requested);
  report.add(
    `${key}.ok`,
    o.ok,
    'connections',
    `${formatInt(o.ok)} of ${formatInt(o.requested)} (${formatPct(pct)})${o.failed ? `, ${formatInt(o.failed)} failed` : ''}`,
  );
  report.add(`${key}.failed`, o.failed);
  report.add(`${key}.successPct`, round(pct, 2));
  report.add(`${key}.perSecond`, round(o.perSecond, 1), 'connect rate', `${formatInt(o.perSecond)} /s`);
  report.latency(`${key}.latency`, 'connect time', o.latency);
  if (o.errors.length) report.add(`${key}.errors`, o.errors, 'first errors', o.errors.join('; '));
}

/** Common integrity checks of a run with publications: nothing missed, nothing twice, nothing out of order. */
export function integrityChecks(report: Report, r: { missed: number; duplicates: number; outOfOrder: number }): void {
  report.add('delivery.missed', r.missed, 'missed', formatInt(r.missed));
  report.add('delivery.duplicates', r.duplicates, 'duplicates', formatInt(r.duplicates));
  report.add('delivery.outOfOrder', r.outOfOrder, 'out of order', formatInt(r.outOfOrder));
  report.check('nothing missed', r.missed === 0, `${formatInt(r.missed)} offsets missed`);
  report.check('no duplicates', r.duplicates === 0, `${formatInt(r.duplicates)} received twice`);
  report.check('in order', r.outOfOrder === 0, `${formatInt(r.outOfOrder)} out of order`);
}

/** Connections lost during the run without being asked to close, by close code. */
export function lostFigures(report: Report, lost: Record<string, number>): number {
  const total = Object.values(lost).reduce((a, b) => a + b, 0);
  report.add(
    'connectionsLost',
    lost,
    'connections lost',
    total === 0
      ? '0'
      : Object.entries(lost)
          .map(([k, v]) => `${v} × ${k}`)
          .join(', '),
  );
  return total;
}

/** The CPU figures of a measured window, read now (since the last `gauge.mark()`). */
export interface CpuSnapshot {
  server: CpuFigure | null;
  generator: CpuFigure;
  others: CpuFigure | null;
}

export function cpuSnapshot(ctx: BenchContext): CpuSnapshot {
  return { server: ctx.gauge.cpu(), generator: ctx.gauge.generatorCpu(), others: ctx.gauge.othersCpu() };
}

/**
 * CPU of one phase of a scenario with several measured windows, under `<key>.cpu`: the
 * server's (per operation when given), the generator's and the other processes', in one row.
 */
export function phaseCpu(report: Report, key: string, snap: CpuSnapshot, operations?: number, unit = 'operation'): void {
  const { server, generator, others } = snap;
  const perOp = server && operations ? (server.seconds * 1e6) / operations : null;
  report.add(
    `${key}.cpu`,
    {
      serverSeconds: server ? round(server.seconds, 2) : null,
      serverPct: server ? round(server.pct, 1) : null,
      serverUsPerOperation: perOp === null ? null : round(perOp, 1),
      generatorPct: round(generator.pct, 1),
      otherProcessesPct: others ? round(others.pct, 1) : null,
    },
    'CPU: server / generator / others',
    `${server ? `${Math.round(server.pct)}%` : '?'} / ${Math.round(generator.pct)}% / ${others ? `${Math.round(others.pct)}%` : '?'} of one core${perOp === null ? '' : `; server ${perOp.toFixed(0)} µs per ${unit}`}`,
  );
}
