/**
 * Fan-out across a Redis cluster (a benchmark, not a test): one publisher on node A, N
 * subscribers to one channel either all on one node (memory engine; Redis engine) or spread
 * over three nodes sharing Redis — Switchboard, or Socket.IO 4.8 with its Redis adapter.
 * Reports delivered messages/s, latency percentiles (receipt time minus the publisher's
 * timestamp inside the payload, one CLOCK_MONOTONIC for every process), server CPU per
 * delivery, Redis CPU per 1,000 publications and Redis commands per publication (INFO
 * commandstats deltas, net of the idle rate measured just before).
 *
 *   npm run build && npx tsx bench/cluster.ts [--subscribers 1000] [--rates 50,200]
 *     [--duration 10] [--warmup 2] [--setups memory,redis1,redis3[,redis3bc,socketio3]]
 *     [--redis redis://127.0.0.1:6379] [--tree DIR] [--label after] [--out FILE]
 *     [--publisher-window 0] [--quiet-wait 60] [--retry-noisy 1] [--max-minutes 15] [--json]
 *
 * Switchboard nodes come from <tree>/test/cluster (node-process.mjs, each with its own key
 * prefix; --tree runs another checkout's build, e.g. the code before a change, with this
 * harness); Socket.IO nodes are bench/servers/socketio.mjs on its Redis adapter. Subscribers live in
 * subscriber worker processes of @switchboard/loadgen (one per node share), the publisher runs here. Every wait
 * has a deadline, the run has one too; only processes started here are stopped, by pid; the
 * run's Redis keys are deleted at the end. Use a Redis of your own (--redis) for CPU figures
 * that no other client pollutes.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BenchClient,
  BODY,
  CHANNELS,
  type ComparePayload,
  clockTicksPerSecond,
  cpuTicks,
  createClient,
  drainDeliveries,
  type LatencyMs,
  latencySummary,
  mintBenchToken,
  nowUs,
  OtherLoad,
  Peer,
  quietest,
  type ResultsReport,
  type ServerKind,
  type ServerReply,
  type ServerRequest,
  SUBSCRIBER_WORKER,
  type SubscriberReply,
  type SubscriberRequest,
  sleep,
  waitQuiet,
  withTimeout,
} from '@switchboard/loadgen';
import { Redis } from 'ioredis';
import { ArgReader } from './lib/args.js';
import { clusterRunDefaults, readClusterRunFlag } from './lib/cluster-options.js';
import { type CommandsPerPublication, commandStats, commandsPerPublication, redisCpuSeconds } from './lib/redis-stats.js';
import { loadCluster, localRedis, revisionOf } from './lib/tree.js';
import { BENCH_LIMITS } from './servers/limits.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Clock ticks per second of /proc CPU figures. */
const CLK_TCK = clockTicksPerSecond();

type Setup = 'memory' | 'redis1' | 'redis3' | 'redis3bc' | 'socketio3';
const SETUPS: Record<Setup, { label: string; nodes: number; redis: boolean; kind: ServerKind; offA?: boolean }> = {
  memory: { label: '1 node, memory engine', nodes: 1, redis: false, kind: 'switchboard' },
  redis1: { label: '1 node, Redis engine', nodes: 1, redis: true, kind: 'switchboard' },
  redis3: { label: '3 nodes, Redis engine', nodes: 3, redis: true, kind: 'switchboard' },
  // Diagnostic: the publisher's node does no fan-out of its own.
  redis3bc: { label: '3 nodes, Redis engine, subscribers on B and C only', nodes: 3, redis: true, kind: 'switchboard', offA: true },
  socketio3: { label: '3 nodes, Socket.IO 4.8.1 + @socket.io/redis-adapter', nodes: 3, redis: true, kind: 'socketio' },
};

function parseArgs(argv: string[]) {
  const o = {
    subscribers: 1000,
    rates: [50, 200],
    duration: 10,
    warmup: 2,
    setups: ['memory', 'redis1', 'redis3'] as Setup[],
    maxMinutes: 15,
    json: false,
    ...clusterRunDefaults(''),
    retryNoisy: 1,
    publisherWindow: 0,
  };
  const args = new ArgReader(argv);
  for (let flag = args.next(); flag !== undefined; flag = args.next()) {
    if (readClusterRunFlag(flag, args, o)) continue;
    if (flag === '--subscribers') o.subscribers = Math.floor(args.positive(20_000));
    else if (flag === '--rates') o.rates = args.positives(5000);
    else if (flag === '--duration') o.duration = args.positive(120);
    else if (flag === '--warmup') o.warmup = Math.min(30, Number(args.value()) || 0);
    else if (flag === '--max-minutes') o.maxMinutes = args.positive(120);
    else if (flag === '--json') o.json = true;
    else if (flag === '--publisher-window') o.publisherWindow = Math.floor(args.positive(100_000));
    else if (flag === '--retry-noisy') o.retryNoisy = Math.min(5, Math.floor(Number(args.value()) || 0));
    else if (flag === '--setups') {
      o.setups = args.value().split(',') as Setup[];
      for (const s of o.setups) if (!(s in SETUPS)) throw new Error(`--setups: unknown setup ${s} (${Object.keys(SETUPS).join(', ')})`);
    } else throw new Error(`unknown option ${flag}`);
  }
  localRedis(o.redis);
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = (line: string) => process.stderr.write(`${line}\n`);

const cluster = await loadCluster(opts.tree, opts.redis);

// Limits raised for a benchmark (bench/servers/limits.mjs); presence TTL at its default.
const CONFIG = {
  logLevel: 'error',
  timeouts: { presenceTtl: '15s' },
  limits: { ...BENCH_LIMITS },
};

/** A server process of this run, Switchboard or Socket.IO. */
interface BenchNode {
  pid: number;
  port: number;
  stop(): Promise<void>;
  kill(): void;
}

type WorkerPeer = Peer<SubscriberRequest, SubscriberReply>;
const workers: WorkerPeer[] = [];
let nodes: BenchNode[] = [];

/** Kill what this run started (by pid) when the run deadline passes. */
const deadline = setTimeout(() => {
  log(`run deadline of ${opts.maxMinutes} min passed; stopping`);
  for (const w of workers) w.kill();
  for (const n of nodes) n.kill();
  process.exit(2);
}, opts.maxMinutes * 60_000);
deadline.unref();

async function startSwitchboard(name: string, prefix: string, redis: boolean): Promise<BenchNode> {
  const n = await cluster.startNode(name, { prefix, config: { ...CONFIG, ...(redis ? {} : { redis: undefined }) } });
  return {
    pid: n.proc.pid as number,
    port: n.port,
    stop: () => cluster.stopAll([n]),
    kill: () => {
      if (n.alive() && n.proc.pid !== undefined) process.kill(n.proc.pid, 'SIGKILL');
    },
  };
}

async function startSocketIo(name: string, prefix: string): Promise<BenchNode> {
  const peer = Peer.fork<ServerRequest, ServerReply>(name, join(HERE, 'servers', 'socketio.mjs'), {
    env: { ...process.env, BENCH_SECRET: cluster.SECRET, BENCH_SOCKETIO_REDIS: opts.redis, BENCH_PREFIX: prefix },
    stdout: 'inherit',
  });
  const ready = await peer.wait('ready', 15_000);
  return {
    pid: peer.pid,
    port: ready.port,
    stop: async () => {
      await peer.request({ type: 'stop' }, 'stopped', 10_000).catch(() => {});
      await peer.exit(3000);
    },
    kill: () => peer.kill(),
  };
}

export interface PublishStats {
  sent: number;
  acked: number;
  failed: number;
  errors: string[];
  /** Send to acknowledgement of each publication, µs. */
  ackUs: number[];
}

/**
 * Publish at `rate`/s for `ms`, paced on the clock (not by acks), then wait (bounded) for the
 * acks. Publications do not wait for each other's acks: a server that runs one connection's
 * publishes one at a time queues them, and their latency includes that wait. With
 * --publisher-window N at most N are unacknowledged; a publication held back by it carries
 * its scheduled time, so latency includes the publisher's wait.
 */
async function publishFor(client: BenchClient, channel: string, rate: number, ms: number, warm: boolean): Promise<PublishStats> {
  const window = opts.publisherWindow;
  const total = Math.max(1, Math.round((rate * ms) / 1000));
  const stats: PublishStats = { sent: 0, acked: 0, failed: 0, errors: [], ackUs: [] };
  const acks: Array<Promise<void>> = [];
  const start = nowUs();
  // A window that never frees (acks stopped) must not hold the run: the same bound as the acks'.
  const giveUp = start + (30_000 + 3 * ms) * 1000;
  while (stats.sent < total && nowUs() < giveUp) {
    const due = Math.min(total, Math.floor(((nowUs() - start) * rate) / 1e6) + 1);
    for (; stats.sent < due; stats.sent++) {
      if (window > 0 && stats.sent - stats.acked - stats.failed >= window) break;
      const t = window > 0 ? start + (stats.sent * 1e6) / rate : nowUs();
      const data: ComparePayload = { t, seq: stats.sent, body: BODY, ...(warm ? { w: 1 as const } : {}) };
      acks.push(
        client.publish(channel, data).then(
          () => {
            stats.acked++;
            stats.ackUs.push(nowUs() - data.t);
          },
          (err: Error) => {
            stats.failed++;
            if (stats.errors.length < 3) stats.errors.push(err.message);
          },
        ),
      );
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
  /** CPU of all server processes together per delivered message, µs. */
  serverCpuUsPerDelivery: number;
  redisCpuPct: number | null;
  /** Redis CPU (user + sys) per 1,000 acknowledged publications, ms, net of its idle rate. */
  redisCpuMsPer1000: number | null;
  /** Redis commands per publication, net of the idle rate (heartbeats, health pings). */
  redisOpsPerPublication: number | null;
  redisOpsBreakdown: Record<string, number>;
  otherCpuPct: number;
  /** Measurements taken; more than 1 when other processes disturbed the first. */
  attempts: number;
}

async function scenario(setup: Setup, rate: number): Promise<ClusterFanoutRun> {
  const s = SETUPS[setup];
  const prefix = cluster.newPrefix('bench');
  const channel = CHANNELS[s.kind];
  log(`${s.label}: ${opts.subscribers} subscribers, ${rate} publications/s for ${opts.duration} s`);
  const names = ['a', 'b', 'c'].slice(0, s.nodes);
  nodes = await Promise.all(names.map((name) => (s.kind === 'socketio' ? startSocketIo(`socketio-${name}`, prefix) : startSwitchboard(name, prefix, s.redis))));
  const admin = s.redis ? new Redis(opts.redis, { maxRetriesPerRequest: 1 }) : null;
  let publisher: BenchClient | null = null;
  try {
    // One worker per node share (three in every setup, so the load generator is the same).
    const shares = [0, 1, 2].map((i) => Math.floor(opts.subscribers / 3) + (i < opts.subscribers % 3 ? 1 : 0));
    const connected = await Promise.all(
      workers.map((w, i) => {
        const node = (s.offA ? nodes[1 + (i % 2)] : nodes[i % nodes.length]) as BenchNode;
        const req: SubscriberRequest = {
          type: 'connect',
          kind: s.kind,
          url: `ws://127.0.0.1:${node.port}`,
          count: shares[i] as number,
          subscribe: true,
          channel,
          secret: cluster.SECRET,
          addresses: ['127.0.0.1'],
          addressOffset: 0,
          concurrency: 50,
          userPrefix: `${prefix}-w${i}-`,
        };
        return w.request(req, 'connected', 120_000);
      }),
    );
    const ok = connected.reduce((a, r) => a + r.ok, 0);
    const failed = connected.reduce((a, r) => a + r.failed, 0);
    if (failed > 0)
      log(
        `  ${failed} subscribers failed: ${connected
          .flatMap((r) => r.errors)
          .slice(0, 3)
          .join('; ')}`,
      );

    publisher = createClient(s.kind, {
      url: `ws://127.0.0.1:${(nodes[0] as BenchNode).port}`,
      token: await mintBenchToken(cluster.SECRET, `${prefix}-publisher`),
    });
    await withTimeout(publisher.ready, 30_000, 'publisher connect');
    if (opts.warmup > 0) await publishFor(publisher, channel, rate, opts.warmup * 1000, true);
    await sleep(500);
    const pids = nodes.map((n) => n.pid);
    await waitQuiet([...pids, ...workers.map((w) => w.pid)], opts.quietWait, log);

    // The idle rate of Redis commands (heartbeats, health pings) over 2 s, subtracted below.
    // Redis's own idle CPU (its timers, these INFO calls) is subtracted from its CPU the same way.
    const idle0 = admin ? await commandStats(admin) : null;
    const idleCpu0 = admin ? await redisCpuSeconds(admin) : 0;
    const idleT0 = nowUs();
    await sleep(2000);
    const idle1 = admin ? await commandStats(admin) : null;
    const idleCpu1 = admin ? await redisCpuSeconds(admin) : 0;
    const idleSeconds = (nowUs() - idleT0) / 1e6;

    await Promise.all(workers.map((w) => w.request({ type: 'reset' }, 'reset', 10_000)));
    const cpu0 = pids.reduce((a, p) => a + cpuTicks(p), 0);
    const other = new OtherLoad([process.pid, ...pids, ...workers.map((w) => w.pid)]);
    const stats0 = admin ? await commandStats(admin) : null;
    const rcpu0 = admin ? await redisCpuSeconds(admin) : 0;
    const t0 = nowUs();
    const pub = await publishFor(publisher, channel, rate, opts.duration * 1000, false);
    const expected = pub.acked * ok;

    await drainDeliveries(workers, expected, 30_000);
    const t1 = nowUs();
    const stats1 = admin ? await commandStats(admin) : null;
    const rcpu1 = admin ? await redisCpuSeconds(admin) : 0;
    const cpu1 = pids.reduce((a, p) => a + cpuTicks(p), 0);
    const otherCpu = other.pct(CLK_TCK);

    const results = (await Promise.all(workers.map((w) => w.request({ type: 'results' }, 'results', 60_000)))) as ResultsReport[];
    const all = new Float64Array(results.reduce((a, r) => a + r.latencies.length, 0));
    let off = 0;
    for (const r of results) {
      all.set(r.latencies, off);
      off += r.latencies.length;
    }
    const delivered = results.reduce((a, r) => a + r.received, 0);
    const lastRecv = Math.max(...results.map((r) => r.lastRecvUs));
    const inOrder =
      results.every((r) => r.outOfOrder === 0) && results.every((r) => r.connections === 0 || (r.minPerConn === pub.acked && r.maxPerConn === pub.acked));

    let ops: CommandsPerPublication | null = null;
    if (idle0 && idle1 && stats0 && stats1 && pub.acked > 0)
      ops = commandsPerPublication([idle0, idle1], idleSeconds, [stats0, stats1], (t1 - t0) / 1e6, pub.acked);
    const serverCpuUs = ((cpu1 - cpu0) * 1e6) / CLK_TCK;
    const redisCpu = Math.max(0, rcpu1 - rcpu0 - ((idleCpu1 - idleCpu0) / idleSeconds) * ((t1 - t0) / 1e6));
    const run: ClusterFanoutRun = {
      setup,
      label: s.label,
      subscribers: ok,
      rate,
      durationSeconds: opts.duration,
      published: pub.acked,
      expected,
      delivered,
      complete: failed === 0 && pub.failed === 0 && delivered === expected && inOrder,
      deliveredPerSecond: lastRecv > t0 ? delivered / ((lastRecv - t0) / 1e6) : 0,
      latencyMs: latencySummary(all),
      ackMs: latencySummary(Float64Array.from(pub.ackUs)),
      serverCpuPct: (serverCpuUs / (t1 - t0)) * 100,
      serverCpuUsPerDelivery: delivered > 0 ? serverCpuUs / delivered : NaN,
      redisCpuPct: admin ? (((rcpu1 - rcpu0) * 1e6) / (t1 - t0)) * 100 : null,
      redisCpuMsPer1000: admin && pub.acked > 0 ? (redisCpu * 1e3 * 1000) / pub.acked : null,
      redisOpsPerPublication: ops?.total ?? null,
      redisOpsBreakdown: ops?.breakdown ?? {},
      otherCpuPct: otherCpu.normal + otherCpu.niced,
      attempts: 1,
    };
    const l = run.latencyMs;
    log(
      `  ${delivered.toLocaleString('en-US')} / ${expected.toLocaleString('en-US')} delivered (${run.complete ? 'complete, in order' : 'INCOMPLETE'}), ` +
        `${Math.round(run.deliveredPerSecond).toLocaleString('en-US')} msgs/s, p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} max ${l.max.toFixed(1)} ms, ` +
        `publish ack p50 ${run.ackMs.p50.toFixed(1)} p99 ${run.ackMs.p99.toFixed(1)} ms, ` +
        `servers ${run.serverCpuPct.toFixed(0)} % CPU (${run.serverCpuUsPerDelivery.toFixed(2)} µs/delivery)` +
        `${run.redisCpuPct === null ? '' : `, Redis ${run.redisCpuPct.toFixed(0)} % CPU (${run.redisCpuMsPer1000?.toFixed(1)} ms per 1,000 publications), ${run.redisOpsPerPublication} commands/publication ${JSON.stringify(run.redisOpsBreakdown)}`}, ` +
        `other processes ${run.otherCpuPct.toFixed(0)} %`,
    );
    if (pub.errors.length) log(`  publish errors: ${pub.errors.join('; ')}`);
    return run;
  } finally {
    if (publisher) await publisher.close(2000).catch(() => {});
    await Promise.all(workers.map((w) => w.request({ type: 'close' }, 'closed', 60_000).catch(() => {})));
    await Promise.all(nodes.map((n) => n.stop()));
    nodes = [];
    await admin?.quit();
    if (s.redis && s.kind === 'switchboard') await cluster.dropPrefix(prefix);
  }
}

const f1 = (v: number | null) => (v === null || !Number.isFinite(v) ? '–' : v.toFixed(1));

function table(runs: ClusterFanoutRun[]): string {
  const rows = runs.map(
    (r) =>
      `| ${r.label} | ${r.rate} | ${r.subscribers} | ${Math.round(r.deliveredPerSecond).toLocaleString('en-US')} | ${r.latencyMs.p50.toFixed(1)} | ${r.latencyMs.p99.toFixed(1)} | ${r.ackMs.p50.toFixed(1)} | ` +
      `${r.complete ? 'yes' : `no (${r.delivered}/${r.expected})`} | ${r.serverCpuPct.toFixed(0)} % | ${r.serverCpuUsPerDelivery.toFixed(2)} | ${r.redisCpuPct === null ? '–' : `${r.redisCpuPct.toFixed(0)} %`} | ${f1(r.redisCpuMsPer1000)} | ${r.redisOpsPerPublication ?? '–'} | ${r.otherCpuPct.toFixed(0)} % |`,
  );
  return [
    '| setup | publications/s offered | subscribers | delivered msgs/s | p50 ms | p99 ms | publish ack p50 ms | all delivered, in order | servers CPU | server CPU µs / delivery | Redis CPU | Redis CPU ms / 1,000 publications | Redis commands / publication | other processes CPU |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  for (let i = 0; i < 3; i++) workers.push(Peer.fork(`worker${i}`, SUBSCRIBER_WORKER, { stdout: 'inherit' }));
  const runs: ClusterFanoutRun[] = [];
  const startedAt = new Date().toISOString();
  try {
    for (const rate of opts.rates) {
      for (const setup of opts.setups) {
        runs.push(
          await quietest(
            `${setup} at ${rate}/s`,
            () => scenario(setup, rate),
            (r) => r.otherCpuPct,
            opts.retryNoisy,
            log,
          ),
        );
      }
    }
  } finally {
    for (const w of workers) {
      w.send({ type: 'exit' });
      await w.exit(3000);
    }
  }
  if (opts.out) {
    const command = `npx tsx bench/cluster.ts ${process.argv.slice(2).join(' ')}`;
    writeFileSync(
      opts.out,
      `${JSON.stringify({ startedAt, command, label: opts.label, tree: opts.tree, revision: revisionOf(opts.tree), redis: opts.redis, runs }, null, 2)}\n`,
    );
  }
  process.stdout.write(opts.json ? `${JSON.stringify(runs, null, 2)}\n` : `${table(runs)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
    for (const w of workers) w.kill();
    void Promise.all(nodes.map((n) => n.stop())).finally(() => process.exit(1));
  },
);
