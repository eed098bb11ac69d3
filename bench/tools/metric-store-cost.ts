/**
 * What the metric stores cost at a steady rate, without HTTP and without waiting for the wall
 * clock: N series (label sets) each taking P points a second for M simulated minutes on an
 * injected clock, written as the ingest path writes them (check, then write, in row batches
 * of 5,000 whose rows each have their own labels object, as JSON rows do), swept once per
 * simulated second as the feature's timer does. Prints the CPU per point of check + write and
 * of the sweep (process.cpuUsage, this process only), and the live heap per series after two
 * forced GCs once the run covers the longest default retention (15 min): the memory per
 * active series at the default retention that `switchboard bench metrics-ingest` cannot wait
 * for. Run after `npm run build`:
 *
 *   node --expose-gc --import tsx bench/tools/metric-store-cost.ts [--series 200] [--rate 25] [--minutes 16]
 */
import { metricsConfig } from '../../packages/server/dist/features/metrics/config.js';
import { MetricStores, type PointInput } from '../../packages/server/dist/features/metrics/metric-stores.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const series = arg('--series', 200);
const rate = arg('--rate', 25);
const minutes = arg('--minutes', 16);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with node --expose-gc\n');
  process.exit(2);
}

/** Seeded log-normal values (mulberry32 + Box-Muller), as the bench's ingest sends. */
let seed = 20261206;
const uniform = (): number => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const logNormal = (): number =>
  Math.round(Math.exp(3 + 0.8 * Math.sqrt(-2 * Math.log(Math.max(1e-12, uniform()))) * Math.cos(2 * Math.PI * uniform())) * 100) / 100;

const config = metricsConfig.parse({
  series: { 'bench.spread': { kind: 'distribution', labels: ['host', 'route'] } },
  maxSeries: series + 10,
  maxLabelValues: 1000,
});
let now = Date.UTC(2026, 11, 6, 12, 0, 0);
const stores = new MetricStores(config, { now: () => now });
const live = (): number => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
const cpuMs = (from: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
};

const heap0 = live();
let writeMs = 0;
let sweepMs = 0;
let points = 0;
let batch: PointInput[] = [];
const flush = (): void => {
  const t = process.cpuUsage();
  const verdict = stores.check('bench', batch);
  if (verdict.first) throw new Error(`refused: ${JSON.stringify(verdict.problems[0])}`);
  stores.write('bench', batch, verdict);
  writeMs += cpuMs(t);
  points += batch.length;
  batch = [];
};
const seconds = minutes * 60;
for (let s = 0; s < seconds; s++) {
  for (let j = 0; j < rate; j++) {
    const ts = now + Math.floor((j * 1000) / rate);
    for (let i = 0; i < series; i++) {
      batch.push({ series: 'bench.spread', labels: { host: `h${i % 100}`, route: `r${Math.floor(i / 100)}` }, ts, value: logNormal() });
      if (batch.length === 5000) flush();
    }
  }
  if (batch.length > 0) flush();
  now += 1000;
  const t = process.cpuUsage();
  stores.sweep();
  sweepMs += cpuMs(t);
}
const heap1 = live();
const perSeries = (heap1 - heap0) / series;
const out = {
  series,
  pointsPerSecondPerSeries: rate,
  simulatedMinutes: minutes,
  points,
  checkAndWriteUsPerPoint: Math.round((writeMs * 1000 * 100) / points) / 100,
  sweepMsPerSecondPer10kSeries: Math.round((sweepMs / seconds) * (10_000 / series) * 10) / 10,
  liveHeapPerSeriesBytes: Math.round(perSeries),
  stores: stores.size,
};
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
