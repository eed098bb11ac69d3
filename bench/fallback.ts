/**
 * The fallback transport (Server-Sent Events + POST) next to WebSocket on the same fan-out:
 * N SDK subscribers on one channel, one publisher at R publications/s for D seconds, over
 * each transport in turn, each on a fresh server process (bench/servers/switchboard.mjs).
 *
 *   npx tsx bench/fallback.ts [--subscribers 200] [--rate 200] [--duration 5] [--rounds 2]
 *
 * Prints delivery latency p50/p99 (publish time → receipt, one clock: all clients live in
 * this process), server CPU µs per delivery (utime+stime of the server process from
 * /proc over the measured window) and the SDK side's CPU per delivery (this process), checks that every subscriber got every publication once
 * and in order, and writes bench/results/fallback.json. Bounded: ≤ 2,000 subscribers,
 * ≤ 2,000 publications/s, ≤ 60 s per run, every wait has a deadline.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SwitchboardClient, type TransportName } from '@switchboard/client';
import { mintToken } from '@switchboard/server';
import WebSocket from 'ws';
import { intFlag } from './lib/args.js';
import { cpuMicros, startServer, stopServer, until } from './lib/server-process.js';

const HERE = dirname(fileURLToPath(import.meta.url));

const SUBSCRIBERS = intFlag('subscribers', 200, 2000);
const RATE = intFlag('rate', 200, 2000);
const DURATION = intFlag('duration', 5, 60);
const ROUNDS = intFlag('rounds', 2, 5);
const TICK_MS = 10;
const CHANNEL = 'project:fanout';
const secret = randomBytes(32).toString('hex');
const percentile = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

interface Row {
  transport: TransportName;
  round: number;
  subscribers: number;
  rate: number;
  publications: number;
  deliveries: number;
  expected: number;
  inOrderOnce: boolean;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  cpuMicrosPerDelivery: number;
  /** CPU of this process (the SDK subscribers and the publisher) per delivery. */
  clientCpuMicrosPerDelivery: number;
}

async function run(transport: TransportName, round: number): Promise<Row> {
  const { child, url } = await startServer(secret);
  const clients: SwitchboardClient[] = [];
  try {
    const token = await mintToken(secret, { sub: 'bench', tenant: 'bench', caps: { 'project:*': ['subscribe', 'publish'] } });
    const options = { token, WebSocket, transports: [transport], backoff: { minDelay: 100, maxDelay: 1000 } };
    const total = RATE * DURATION;
    const latencies = new Float64Array(SUBSCRIBERS * total);
    let deliveries = 0;
    let ordered = true;
    let measuring = false;
    let subscribed = 0;
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const c = new SwitchboardClient(url, options);
      clients.push(c);
      const sub = c.subscribe<{ n: number; t: number; pad: string }>(CHANNEL);
      let next = 0;
      sub.once('subscribed', () => subscribed++);
      sub.on('publication', (p) => {
        if (!measuring) return;
        if (p.data.n !== next) ordered = false;
        next = p.data.n + 1;
        latencies[deliveries++] = performance.now() - p.data.t;
      });
      c.connect();
      // In batches, so connects do not all queue behind each other.
      if (i % 50 === 49) await until(() => subscribed === i + 1, 30_000, `${i + 1} subscriptions`);
    }
    await until(() => subscribed === SUBSCRIBERS, 30_000, 'all subscriptions');
    if (clients.some((c) => c.transport !== transport)) throw new Error(`a subscriber is not on ${transport}`);
    // The publisher is always on WebSocket: only the subscribers' transport differs.
    const publisher = new SwitchboardClient(url, { token, WebSocket, transports: ['websocket'] });
    clients.push(publisher);
    publisher.connect();
    await until(() => publisher.state === 'connected', 10_000, 'the publisher');
    const pad = 'x'.repeat(60);
    // Warm-up, not measured (JIT, buffers).
    for (let i = 0; i < RATE; i++) await publisher.publish(CHANNEL, { n: -1, t: performance.now(), pad });
    await new Promise((r) => setTimeout(r, 500));
    measuring = true;
    const cpuBefore = cpuMicros(child.pid as number);
    const clientCpuBefore = process.cpuUsage();
    const started = performance.now();
    const perTick = RATE / (1000 / TICK_MS);
    let sent = 0;
    const publishes: Array<Promise<unknown>> = [];
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / TICK_MS + 1) * perTick));
      for (; sent < due; sent++) publishes.push(publisher.publish(CHANNEL, { n: sent, t: performance.now(), pad }));
      await new Promise((r) => setTimeout(r, TICK_MS));
      if (performance.now() - started > DURATION * 1000 * 4) throw new Error('publishing fell far behind');
    }
    await Promise.all(publishes);
    const expected = SUBSCRIBERS * total;
    await until(() => deliveries >= expected, Math.max(10_000, DURATION * 2000), `${expected} deliveries`).catch(() => {});
    const cpu = cpuMicros(child.pid as number) - cpuBefore;
    const clientCpu = process.cpuUsage(clientCpuBefore);
    measuring = false;
    const sorted = latencies.slice(0, deliveries).sort();
    return {
      transport,
      round,
      subscribers: SUBSCRIBERS,
      rate: RATE,
      publications: total,
      deliveries,
      expected,
      inOrderOnce: ordered && deliveries === expected,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted[sorted.length - 1] ?? Number.NaN,
      cpuMicrosPerDelivery: cpu / Math.max(1, deliveries),
      clientCpuMicrosPerDelivery: (clientCpu.user + clientCpu.system) / Math.max(1, deliveries),
    };
  } finally {
    for (const c of clients) c.disconnect();
    await stopServer(child);
  }
}

const rows: Row[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const transport of ['websocket', 'sse'] as const) {
    process.stderr.write(`round ${round}: ${transport}, ${SUBSCRIBERS} subscribers, ${RATE}/s for ${DURATION} s…\n`);
    rows.push(await run(transport, round));
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const summary = (['websocket', 'sse'] as const).map((transport) => {
  const of = rows.filter((r) => r.transport === transport);
  return {
    transport,
    p50Ms: mean(of.map((r) => r.p50Ms)),
    p99Ms: mean(of.map((r) => r.p99Ms)),
    cpuMicrosPerDelivery: mean(of.map((r) => r.cpuMicrosPerDelivery)),
    clientCpuMicrosPerDelivery: mean(of.map((r) => r.clientCpuMicrosPerDelivery)),
    delivered: of.every((r) => r.inOrderOnce),
  };
});

const out = [
  `fan-out: ${SUBSCRIBERS} subscribers, ${RATE} publications/s for ${DURATION} s, mean of ${ROUNDS} round(s)`,
  '| transport | p50 ms | p99 ms | server CPU µs / delivery | SDK CPU µs / delivery | every publication once, in order |',
  '|---|---|---|---|---|---|',
  ...summary.map(
    (s) =>
      `| ${s.transport === 'sse' ? 'SSE + POST' : 'WebSocket'} | ${s.p50Ms.toFixed(2)} | ${s.p99Ms.toFixed(2)} | ${s.cpuMicrosPerDelivery.toFixed(2)} | ${s.clientCpuMicrosPerDelivery.toFixed(2)} | ${s.delivered ? 'yes' : 'NO'} |`,
  ),
];
process.stdout.write(`${out.join('\n')}\n`);
const file = join(HERE, 'results', 'fallback.json');
writeFileSync(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, subscribers: SUBSCRIBERS, rate: RATE, duration: DURATION, rounds: rows, summary }, null, 2)}\n`,
);
process.stderr.write(`wrote ${file}\n`);
process.exit(0);
