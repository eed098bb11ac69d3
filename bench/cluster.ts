/**
 * Fan-out across a Redis cluster (a benchmark, not a test): one publisher on node A, N
 * subscribers to one channel either all on one node (memory engine; Redis engine) or spread
 * over three nodes sharing Redis. Reports delivered messages/s, latency percentiles (receipt
 * time minus the publisher's timestamp inside the payload, one CLOCK_MONOTONIC for every
 * process) and Redis commands per publication (INFO commandstats deltas, net of the idle rate
 * measured just before).
 *
 *   npm run build && npx tsx bench/cluster.ts [--subscribers 1000] [--rates 50,200]
 *     [--duration 10] [--warmup 2] [--setups memory,redis1,redis3[,redis3bc]] [--max-minutes 15] [--json]
 *
 * Server processes come from test/cluster (node-process.mjs, each with its own key prefix),
 * subscribers live in bench/lib/worker.ts processes (one per node share), the publisher runs
 * here. Every wait has a deadline, the run has one too; only processes started here are
 * stopped, by pid; the run's Redis keys are deleted at the end.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import {
  type ClusterNode, REDIS_URL, SECRET, dropPrefix, newPrefix, startNode, stopAll,
} from '../test/cluster/cluster.js';
import { type BenchClient, createClient, mintBenchToken } from './lib/clients.js';
import { BODY, type BenchPayload, CHANNELS, OtherLoad, cpuTicks, nowUs, sleep, withTimeout } from './lib/common.js';
import type { ResultsReport, WorkerReply, WorkerRequest } from './lib/ipc.js';
import { drainDeliveries } from './lib/drain.js';
import { BENCH_LIMITS } from './servers/limits.mjs';
import { Peer } from './lib/peer.js';
import { type LatencyMs, latencySummary } from './lib/results.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const CHANNEL = CHANNELS.switchboard;

type Setup = 'memory' | 'redis1' | 'redis3' | 'redis3bc';
const SETUPS: Record<Setup, { label: string; nodes: number; redis: boolean; offA?: boolean }> = {
  memory: { label: '1 node, memory engine', nodes: 1, redis: false },
  redis1: { label: '1 node, Redis engine', nodes: 1, redis: true },
  redis3: { label: '3 nodes, Redis engine', nodes: 3, redis: true },
  // Diagnostic: the publisher's node does no fan-out of its own.
  redis3bc: { label: '3 nodes, Redis engine, subscribers on B and C only', nodes: 3, redis: true, offA: true },
};

function parseArgs(argv: string[]) {
  const o = { subscribers: 1000, rates: [50, 200], duration: 10, warmup: 2, setups: ['memory', 'redis1', 'redis3'] as Setup[], maxMinutes: 15, json: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const positive = (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number, got ${v}`);
      return n;
    };
    if (flag === '--subscribers') o.subscribers = Math.min(20_000, Math.floor(positive(value())));
    else if (flag === '--rates') o.rates = value().split(',').map((r) => Math.min(5000, positive(r)));
    else if (flag === '--duration') o.duration = Math.min(120, positive(value()));
    else if (flag === '--warmup') o.warmup = Math.min(30, Number(value()) || 0);
    else if (flag === '--max-minutes') o.maxMinutes = Math.min(120, positive(value()));
    else if (flag === '--json') o.json = true;
    else if (flag === '--setups') {
      o.setups = value().split(',') as Setup[];
      for (const s of o.setups) if (!(s in SETUPS)) throw new Error(`--setups: unknown setup ${s} (${Object.keys(SETUPS).join(', ')})`);
    } else throw new Error(`unknown option ${flag}`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = (line: string) => process.stderr.write(`${line}\n`);

// Limits raised for a benchmark (bench/servers/limits.mjs); presence TTL at its default.
const CONFIG = {
  logLevel: 'error',
  timeouts: { presenceTtl: '15s' },
  limits: { ...BENCH_LIMITS },
};

type WorkerPeer = Peer<WorkerRequest, WorkerReply>;
const workers: WorkerPeer[] = [];
let nodes: ClusterNode[] = [];

/** Kill what this run started (by pid) when the run deadline passes. */
const deadline = setTimeout(() => {
  log(`run deadline of ${opts.maxMinutes} min passed; stopping`);
  for (const w of workers) w.kill();
  for (const n of nodes) if (n.alive() && n.proc.pid !== undefined) process.kill(n.proc.pid, 'SIGKILL');
  process.exit(2);
}, opts.maxMinutes * 60_000);
deadline.unref();

async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}

async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_sys') + field('used_cpu_user');
}

const diff = (a: Map<string, number>, b: Map<string, number>) => new Map([...b].map(([k, v]) => [k, v - (a.get(k) ?? 0)] as const));

interface PublishStats {
  sent: number;
  acked: number;
  failed: number;
  errors: string[];
  /** Send to acknowledgement of each publication, µs. */
  ackUs: number[];
}

/**
 * Publish at `rate`/s for `ms`, paced on the clock (not by acks), then wait (bounded) for the
 * acks. The server runs one connection's commands one at a time, so a publisher that cannot
 * keep up queues on the server: its publications' latency includes that wait.
 */
async function publishFor(client: BenchClient, rate: number, ms: number, warm: boolean): Promise<PublishStats> {
  const total = Math.max(1, Math.round((rate * ms) / 1000));
  const stats: PublishStats = { sent: 0, acked: 0, failed: 0, errors: [], ackUs: [] };
  const acks: Array<Promise<void>> = [];
  const start = nowUs();
  while (stats.sent < total) {
    const due = Math.min(total, Math.floor(((nowUs() - start) * rate) / 1e6) + 1);
    for (; stats.sent < due; stats.sent++) {
      const data: BenchPayload = { t: nowUs(), seq: stats.sent, body: BODY, ...(warm ? { w: 1 as const } : {}) };
      acks.push(client.publish(CHANNEL, data).then(() => {
        stats.acked++;
        stats.ackUs.push(nowUs() - data.t);
      }, (err: Error) => {
        stats.failed++;
        if (stats.errors.length < 3) stats.errors.push(err.message);
      }));
    }
    await sleep(1);
  }
  await withTimeout(Promise.all(acks), 30_000 + 3 * ms, 'publish acks').catch((err: Error) => stats.errors.push(err.message));
  return stats;
}

export interface ClusterFanoutRun {
  setup: Setup;
  label: string;
  subscribers: number;
  rate: number;
  durationSeconds: number;
  published: number;
  expected: number;
  delivered: number;
  complete: boolean;
  deliveredPerSecond: number;
  latencyMs: LatencyMs;
  /** Publish acknowledgement latency, as the publisher sees it. */
  ackMs: LatencyMs;
  /** CPU of all server processes together, % of one core. */
  serverCpuPct: number;
  redisCpuPct: number | null;
  /** Redis commands per publication, net of the idle rate (heartbeats, health pings). */
  redisOpsPerPublication: number | null;
  redisOpsBreakdown: Record<string, number>;
  otherCpuPct: number;
}

async function scenario(setup: Setup, rate: number): Promise<ClusterFanoutRun> {
  const s = SETUPS[setup];
  const prefix = newPrefix('bench');
  log(`${s.label}: ${opts.subscribers} subscribers, ${rate} publications/s for ${opts.duration} s`);
  const names = ['a', 'b', 'c'].slice(0, s.nodes);
  nodes = await Promise.all(names.map((name) => startNode(name, { prefix, config: { ...CONFIG, ...(s.redis ? {} : { redis: undefined }) } })));
  const admin = s.redis ? new Redis(REDIS_URL, { maxRetriesPerRequest: 1 }) : null;
  let publisher: BenchClient | null = null;
  try {
    // One worker per node share (three in every setup, so the load generator is the same).
    const shares = [0, 1, 2].map((i) => Math.floor(opts.subscribers / 3) + (i < opts.subscribers % 3 ? 1 : 0));
    const connected = await Promise.all(workers.map((w, i) => {
      const node = (s.offA ? nodes[1 + (i % 2)] : nodes[i % nodes.length]) as ClusterNode;
      const req: WorkerRequest = {
        type: 'connect', kind: 'switchboard', url: `ws://127.0.0.1:${node.port}`, count: shares[i] as number, subscribe: true, channel: CHANNEL,
        secret: SECRET, addresses: ['127.0.0.1'], addressOffset: 0, concurrency: 50, userPrefix: `${prefix}-w${i}-`,
      };
      return w.request(req, 'connected', 120_000);
    }));
    const ok = connected.reduce((a, r) => a + r.ok, 0);
    const failed = connected.reduce((a, r) => a + r.failed, 0);
    if (failed > 0) log(`  ${failed} subscribers failed: ${connected.flatMap((r) => r.errors).slice(0, 3).join('; ')}`);

    publisher = createClient('switchboard', { url: `ws://127.0.0.1:${(nodes[0] as ClusterNode).port}`, token: await mintBenchToken(SECRET, `${prefix}-publisher`) });
    await withTimeout(publisher.ready, 30_000, 'publisher connect');
    if (opts.warmup > 0) await publishFor(publisher, rate, opts.warmup * 1000, true);
    await sleep(500);

    // The idle rate of Redis commands (heartbeats, health pings) over 2 s, subtracted below.
    const idle0 = admin ? await commandStats(admin) : null;
    const idleT0 = nowUs();
    await sleep(2000);
    const idle1 = admin ? await commandStats(admin) : null;
    const idleSeconds = (nowUs() - idleT0) / 1e6;

    await Promise.all(workers.map((w) => w.request({ type: 'reset' }, 'reset', 10_000)));
    const pids = nodes.map((n) => n.proc.pid as number);
    const cpu0 = pids.reduce((a, p) => a + cpuTicks(p), 0);
    const other = new OtherLoad([process.pid, ...pids, ...workers.map((w) => w.pid)]);
    const stats0 = admin ? await commandStats(admin) : null;
    const rcpu0 = admin ? await redisCpuSeconds(admin) : 0;
    const t0 = nowUs();
    const pub = await publishFor(publisher, rate, opts.duration * 1000, false);
    const expected = pub.acked * ok;

    await drainDeliveries(workers, expected, 30_000);
    const t1 = nowUs();
    const stats1 = admin ? await commandStats(admin) : null;
    const rcpu1 = admin ? await redisCpuSeconds(admin) : 0;
    const cpu1 = pids.reduce((a, p) => a + cpuTicks(p), 0);
    const otherCpu = other.pct(CLK_TCK);

    const results = await Promise.all(workers.map((w) => w.request({ type: 'results' }, 'results', 60_000))) as ResultsReport[];
    const all = new Float64Array(results.reduce((a, r) => a + r.latencies.length, 0));
    let off = 0;
    for (const r of results) {
      all.set(r.latencies, off);
      off += r.latencies.length;
    }
    const delivered = results.reduce((a, r) => a + r.received, 0);
    const lastRecv = Math.max(...results.map((r) => r.lastRecvUs));
    const inOrder = results.every((r) => r.outOfOrder === 0) && results.every((r) => r.connections === 0 || (r.minPerConn === pub.acked && r.maxPerConn === pub.acked));

    let ops: number | null = null;
    const breakdown: Record<string, number> = {};
    if (idle0 && idle1 && stats0 && stats1 && pub.acked > 0) {
      const idleRate = diff(idle0, idle1);
      const window = diff(stats0, stats1);
      const seconds = (t1 - t0) / 1e6;
      ops = 0;
      for (const [cmd, calls] of window) {
        // INFO itself is this script's, not the nodes'.
        if (cmd === 'info') continue;
        const net = Math.max(0, calls - ((idleRate.get(cmd) ?? 0) / idleSeconds) * seconds) / pub.acked;
        ops += net;
        if (net >= 0.05) breakdown[cmd] = Math.round(net * 100) / 100;
      }
    }
    const run: ClusterFanoutRun = {
      setup, label: s.label, subscribers: ok, rate, durationSeconds: opts.duration, published: pub.acked, expected, delivered,
      complete: failed === 0 && pub.failed === 0 && delivered === expected && inOrder,
      deliveredPerSecond: lastRecv > t0 ? delivered / ((lastRecv - t0) / 1e6) : 0,
      latencyMs: latencySummary(all),
      ackMs: latencySummary(Float64Array.from(pub.ackUs)),
      serverCpuPct: ((((cpu1 - cpu0) * 1e6) / CLK_TCK) / (t1 - t0)) * 100,
      redisCpuPct: admin ? ((rcpu1 - rcpu0) * 1e6 / (t1 - t0)) * 100 : null,
      redisOpsPerPublication: ops === null ? null : Math.round(ops * 100) / 100,
      redisOpsBreakdown: breakdown,
      otherCpuPct: otherCpu.normal + otherCpu.niced,
    };
    const l = run.latencyMs;
    log(`  ${delivered.toLocaleString('en-US')} / ${expected.toLocaleString('en-US')} delivered (${run.complete ? 'complete, in order' : 'INCOMPLETE'}), `
      + `${Math.round(run.deliveredPerSecond).toLocaleString('en-US')} msgs/s, p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} max ${l.max.toFixed(1)} ms, `
      + `publish ack p50 ${run.ackMs.p50.toFixed(1)} p99 ${run.ackMs.p99.toFixed(1)} ms, `
      + `servers ${run.serverCpuPct.toFixed(0)} % CPU${run.redisCpuPct === null ? '' : `, Redis ${run.redisCpuPct.toFixed(0)} % CPU, ${run.redisOpsPerPublication} commands/publication ${JSON.stringify(breakdown)}`}, `
      + `other processes ${run.otherCpuPct.toFixed(0)} %`);
    if (pub.errors.length) log(`  publish errors: ${pub.errors.join('; ')}`);
    return run;
  } finally {
    if (publisher) await publisher.close(2000).catch(() => {});
    await Promise.all(workers.map((w) => w.request({ type: 'close' }, 'closed', 60_000).catch(() => {})));
    await stopAll(nodes);
    nodes = [];
    await admin?.quit();
    if (s.redis) await dropPrefix(prefix);
  }
}

function table(runs: ClusterFanoutRun[]): string {
  const rows = runs.map((r) => `| ${r.label} | ${r.rate} | ${r.subscribers} | ${Math.round(r.deliveredPerSecond).toLocaleString('en-US')} | ${r.latencyMs.p50.toFixed(1)} | ${r.latencyMs.p99.toFixed(1)} | ${r.ackMs.p50.toFixed(1)} | `
    + `${r.complete ? 'yes' : `no (${r.delivered}/${r.expected})`} | ${r.serverCpuPct.toFixed(0)} % | ${r.redisCpuPct === null ? '–' : `${r.redisCpuPct.toFixed(0)} %`} | ${r.redisOpsPerPublication ?? '–'} |`);
  return ['| setup | publications/s offered | subscribers | delivered msgs/s | p50 ms | p99 ms | publish ack p50 ms | all delivered, in order | servers CPU | Redis CPU | Redis commands / publication |',
    '|---|---|---|---|---|---|---|---|---|---|---|', ...rows].join('\n');
}

async function main(): Promise<void> {
  for (let i = 0; i < 3; i++) workers.push(Peer.fork(`worker${i}`, join(HERE, 'lib', 'worker.ts'), ['--import', 'tsx']));
  const runs: ClusterFanoutRun[] = [];
  try {
    for (const rate of opts.rates) for (const setup of opts.setups) runs.push(await scenario(setup, rate));
  } finally {
    for (const w of workers) {
      w.send({ type: 'exit' });
      await w.exit(3000);
    }
  }
  process.stdout.write(opts.json ? `${JSON.stringify(runs, null, 2)}\n` : `${table(runs)}\n`);
}

main().then(() => process.exit(0), (err: unknown) => {
  log(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  for (const w of workers) w.kill();
  void stopAll(nodes).finally(() => process.exit(1));
});
