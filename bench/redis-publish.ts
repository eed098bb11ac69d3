/**
 * Publish path through the Redis engine with no subscribers (a benchmark, not a test): one
 * node, one publisher — a WebSocket connection with up to --window publishes in flight, or
 * the HTTP API with --http-inflight requests in flight — in two phases:
 *
 * - saturate: --count publications as fast as they are acknowledged (at most --max-seconds):
 *   acknowledged publications/s, ack latency, server CPU and Redis CPU per publication,
 *   Redis commands per publication (INFO commandstats deltas, net of the idle rate);
 * - paced: --rate publications/s offered for --duration s, still at most the same number in
 *   flight: ack latency p50/p99 from each publication's scheduled time (a publisher held
 *   back by its window counts the wait), and the rate achieved.
 *
 *   npm run build && npx tsx bench/redis-publish.ts [--modes ws,http] [--count 20000]
 *     [--window 64] [--http-inflight 16] [--rate 2000] [--duration 5] [--max-seconds 15]
 *     [--redis redis://127.0.0.1:6379] [--engine redis|memory] [--tree DIR] [--label after] [--profile DIR]
 *     [--out FILE] [--quiet-wait 60] [--max-minutes 10]
 *
 * --engine memory: the same load on the memory engine, the yardstick for the node's own share
 * of the cost (the Redis figures are then zero).
 * --profile DIR: the node is CPU-profiled (100 µs sampling) during the saturate phase only,
 * through the bench/servers/cpu-profile.mjs preload, into DIR/<label>-publish-<mode>.cpuprofile;
 * summarise it with bench/tools/profile-summary.ts. --tree runs another checkout's build
 * (its test/cluster/node-process.mjs) with this harness. One fresh node per mode; only
 * processes started here are stopped, by pid; the run's Redis keys are deleted at the end.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  BODY,
  CHANNELS,
  type ComparePayload,
  clockTicksPerSecond,
  cpuTicks,
  createClient,
  type LatencyMs,
  latencySummary,
  mintBenchToken,
  nowUs,
  OtherLoad,
  sleep,
  TENANT,
  waitQuiet,
  withTimeout,
} from '@switchboard/loadgen';
import { Redis } from 'ioredis';
import { ArgReader } from './lib/args.js';
import { clusterRunDefaults, readClusterRunFlag } from './lib/cluster-options.js';
import { commandStats, commandsPerPublication, redisCpuSeconds } from './lib/redis-stats.js';
import { loadCluster, localRedis, revisionOf } from './lib/tree.js';
import { BENCH_LIMITS } from './servers/limits.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Clock ticks per second of /proc CPU figures. */
const CLK_TCK = clockTicksPerSecond();
const CHANNEL = CHANNELS.switchboard;
type Mode = 'ws' | 'http';

function parseArgs(argv: string[]) {
  const o = {
    modes: ['ws', 'http'] as Mode[],
    count: 20_000,
    window: 64,
    httpInflight: 16,
    rate: 2000,
    duration: 5,
    maxSeconds: 15,
    engine: 'redis' as 'redis' | 'memory',
    ...clusterRunDefaults('run'),
    profile: '',
    maxMinutes: 10,
  };
  const args = new ArgReader(argv);
  for (let flag = args.next(); flag !== undefined; flag = args.next()) {
    if (readClusterRunFlag(flag, args, o)) continue;
    if (flag === '--modes') {
      o.modes = args.value().split(',') as Mode[];
      for (const m of o.modes) if (m !== 'ws' && m !== 'http') throw new Error(`--modes: unknown mode ${m} (ws, http)`);
    } else if (flag === '--count') o.count = Math.floor(args.positive(200_000));
    else if (flag === '--window') o.window = Math.floor(args.positive(1024));
    else if (flag === '--http-inflight') o.httpInflight = Math.floor(args.positive(256));
    else if (flag === '--rate') o.rate = args.positive(20_000);
    else if (flag === '--duration') o.duration = args.positive(60);
    else if (flag === '--max-seconds') o.maxSeconds = args.positive(120);
    else if (flag === '--engine') {
      const e = args.value();
      if (e !== 'redis' && e !== 'memory') throw new Error(`--engine: redis or memory, got ${e}`);
      o.engine = e;
    } else if (flag === '--profile') o.profile = resolve(args.value());
    else if (flag === '--max-minutes') o.maxMinutes = args.positive(60);
    else throw new Error(`unknown option ${flag}`);
  }
  localRedis(o.redis);
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = (line: string) => process.stderr.write(`${line}\n`);

const cluster = await loadCluster(opts.tree, opts.redis);

let running: { pid: number | undefined; alive(): boolean } | null = null;
const deadline = setTimeout(() => {
  log(`run deadline of ${opts.maxMinutes} min passed; stopping`);
  if (running?.alive() && running.pid !== undefined) process.kill(running.pid, 'SIGKILL');
  process.exit(2);
}, opts.maxMinutes * 60_000);
deadline.unref();

/** Sends one publication; resolves on its acknowledgement. */
type Send = (data: ComparePayload) => Promise<void>;

interface Drive {
  acked: number;
  failed: number;
  errors: string[];
  ackUs: number[];
  /** First send to last acknowledgement, µs. */
  elapsedUs: number;
}

/**
 * Send `total` publications (at most `maxMs`) with at most `inflight` unacknowledged, as
 * fast as acks allow or, with `rate`, paced on the clock. Latency runs from the scheduled
 * time when paced (the publisher's own wait for a free slot counts), else from the send.
 */
async function drive(send: Send, total: number, inflight: number, maxMs: number, rate?: number): Promise<Drive> {
  const st: Drive = { acked: 0, failed: 0, errors: [], ackUs: [], elapsedUs: 0 };
  const pending: Array<Promise<void>> = [];
  let sent = 0;
  let inFlight = 0;
  let lastAck = 0;
  let wake: (() => void) | null = null;
  const t0 = nowUs();
  const end = t0 + maxMs * 1000;
  while (sent < total && nowUs() < end) {
    if (inFlight >= inflight) {
      await new Promise<void>((r) => {
        wake = r;
      });
      continue;
    }
    const due = rate ? t0 + (sent * 1e6) / rate : nowUs();
    if (rate && nowUs() < due) {
      await sleep(Math.max(1, Math.floor((due - nowUs()) / 1000)));
      continue;
    }
    inFlight++;
    const seq = sent++;
    pending.push(
      send({ t: nowUs(), seq, body: BODY })
        .then(
          () => {
            lastAck = nowUs();
            st.acked++;
            st.ackUs.push(lastAck - due);
          },
          (err: Error) => {
            st.failed++;
            if (st.errors.length < 3) st.errors.push(err.message);
          },
        )
        .finally(() => {
          inFlight--;
          const w = wake;
          wake = null;
          w?.();
        }),
    );
  }
  await withTimeout(Promise.all(pending), 30_000, 'acks').catch((err: Error) => st.errors.push(err.message));
  st.elapsedUs = Math.max(1, lastAck - t0);
  return st;
}

/** The HTTP API publisher: keep-alive connections, one per request in flight. */
function httpSender(port: number, inflight: number): { send: Send; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: inflight });
  const send: Send = (data) =>
    new Promise<void>((ok, fail) => {
      const body = JSON.stringify({ channel: CHANNEL, data });
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/api/v1/publish',
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${cluster.ADMIN_KEY}`,
            'x-switchboard-tenant': TENANT,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? ok() : fail(new Error(`HTTP ${res.statusCode}`))));
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error('HTTP request timed out')));
      req.on('error', fail);
      req.end(body);
    });
  return { send, close: () => agent.destroy() };
}

export interface PublishPhase {
  /** Publications in flight at most. */
  inflight: number;
  offeredPerSecond: number | null;
  acked: number;
  failed: number;
  errors: string[];
  ackedPerSecond: number;
  ackMs: LatencyMs;
  serverCpuPct: number;
  serverCpuUsPerPublication: number;
  redisCpuPct: number;
  /** Redis CPU per 1,000 acknowledged publications, ms, net of its idle rate. */
  redisCpuMsPer1000: number;
  redisOpsPerPublication: number;
  redisOpsBreakdown: Record<string, number>;
  otherCpuPct: number;
}

export interface PublishRun {
  mode: Mode;
  saturate: PublishPhase;
  paced: PublishPhase;
  profile?: string;
}

async function measure(admin: Redis, pid: number, run: () => Promise<Drive>, inflight: number, offered: number | null): Promise<PublishPhase> {
  await waitQuiet([pid], opts.quietWait, log);
  const idle0 = await commandStats(admin);
  const idleCpu0 = await redisCpuSeconds(admin);
  const idleT0 = nowUs();
  await sleep(2000);
  const idle1 = await commandStats(admin);
  const idleCpu1 = await redisCpuSeconds(admin);
  const idleSeconds = (nowUs() - idleT0) / 1e6;

  const other = new OtherLoad([process.pid, pid]);
  const cpu0 = cpuTicks(pid);
  const s0 = await commandStats(admin);
  const r0 = await redisCpuSeconds(admin);
  const t0 = nowUs();
  const d = await run();
  const t1 = nowUs();
  const s1 = await commandStats(admin);
  const r1 = await redisCpuSeconds(admin);
  const cpuUs = ((cpuTicks(pid) - cpu0) * 1e6) / CLK_TCK;
  const load = other.pct(CLK_TCK);
  const seconds = (t1 - t0) / 1e6;
  const redisCpu = Math.max(0, r1 - r0 - ((idleCpu1 - idleCpu0) / idleSeconds) * seconds);
  const ops = commandsPerPublication([idle0, idle1], idleSeconds, [s0, s1], seconds, Math.max(1, d.acked));
  return {
    inflight,
    offeredPerSecond: offered,
    acked: d.acked,
    failed: d.failed,
    errors: d.errors,
    ackedPerSecond: d.acked / (d.elapsedUs / 1e6),
    ackMs: latencySummary(Float64Array.from(d.ackUs)),
    serverCpuPct: (cpuUs / (t1 - t0)) * 100,
    serverCpuUsPerPublication: cpuUs / Math.max(1, d.acked),
    redisCpuPct: ((redisCpu * 1e6) / (t1 - t0)) * 100,
    redisCpuMsPer1000: (redisCpu * 1e6) / Math.max(1, d.acked),
    redisOpsPerPublication: ops.total,
    redisOpsBreakdown: ops.breakdown,
    otherCpuPct: load.normal + load.niced,
  };
}

function describe(what: string, p: PublishPhase): string {
  return (
    `  ${what}: ${p.acked.toLocaleString('en-US')} acked${p.failed ? `, ${p.failed} FAILED (${p.errors.join('; ')})` : ''}, ` +
    `${Math.round(p.ackedPerSecond).toLocaleString('en-US')}/s${p.offeredPerSecond ? ` of ${p.offeredPerSecond}/s offered` : ''}, ack p50 ${p.ackMs.p50.toFixed(2)} p99 ${p.ackMs.p99.toFixed(2)} ms, ` +
    `server ${p.serverCpuPct.toFixed(0)} % CPU (${p.serverCpuUsPerPublication.toFixed(0)} µs/publication), Redis ${p.redisCpuPct.toFixed(0)} % CPU ` +
    `(${p.redisCpuMsPer1000.toFixed(1)} ms per 1,000), ${p.redisOpsPerPublication} commands/publication ${JSON.stringify(p.redisOpsBreakdown)}, other processes ${p.otherCpuPct.toFixed(0)} %`
  );
}

async function scenario(mode: Mode): Promise<PublishRun> {
  const prefix = cluster.newPrefix('pub');
  const inflight = mode === 'ws' ? opts.window : opts.httpInflight;
  log(`${opts.label}, ${mode}: one publisher, ${inflight} in flight, no subscribers, ${opts.engine} engine`);
  const profileFile = opts.profile ? join(opts.profile, `${opts.label}-publish-${mode}.cpuprofile`) : '';
  if (profileFile) {
    mkdirSync(opts.profile, { recursive: true });
    rmSync(profileFile, { force: true });
    process.env['NODE_OPTIONS'] = `--import=${pathToFileURL(join(HERE, 'servers', 'cpu-profile.mjs')).href}`;
    process.env['SB_CPU_PROFILE'] = profileFile;
  }
  const node = await cluster
    .startNode('a', {
      prefix,
      config: { logLevel: 'error', timeouts: { presenceTtl: '15s' }, limits: { ...BENCH_LIMITS }, ...(opts.engine === 'memory' ? { redis: undefined } : {}) },
    })
    .finally(() => {
      delete process.env['NODE_OPTIONS'];
      delete process.env['SB_CPU_PROFILE'];
    });
  /** Start or stop the node's profiler (a no-op without --profile); stopping waits for the file. */
  const toggleProfile = async (stop: boolean) => {
    if (!profileFile) return;
    const written = stop ? cluster.eventually(() => node.output.join('').includes('SB_CPU_PROFILE_WRITTEN'), 30_000, 'the CPU profile') : Promise.resolve();
    process.kill(node.proc.pid as number, 'SIGUSR2');
    await written;
  };
  running = { pid: node.proc.pid, alive: node.alive };
  const admin = new Redis(opts.redis, { maxRetriesPerRequest: 1 });
  let close = () => {};
  try {
    let send: Send;
    if (mode === 'ws') {
      const client = createClient('switchboard', { url: `ws://127.0.0.1:${node.port}`, token: await mintBenchToken(cluster.SECRET, `${prefix}-publisher`) });
      await withTimeout(client.ready, 30_000, 'publisher connect');
      send = (data) => client.publish(CHANNEL, data);
      close = () => void client.close(2000);
    } else {
      const http = httpSender(node.port, inflight);
      send = http.send;
      close = http.close;
    }
    const warm = await drive(send, 1000, inflight, 10_000);
    if (warm.failed) throw new Error(`warm-up publishes failed: ${warm.errors.join('; ')}`);
    const pid = node.proc.pid as number;
    const saturate = await measure(
      admin,
      pid,
      async () => {
        await toggleProfile(false);
        try {
          return await drive(send, opts.count, inflight, opts.maxSeconds * 1000);
        } finally {
          await toggleProfile(true);
        }
      },
      inflight,
      null,
    );
    log(describe('saturate', saturate));
    const paced = await measure(
      admin,
      pid,
      () => drive(send, Math.round(opts.rate * opts.duration), inflight, opts.duration * 1000 + 10_000, opts.rate),
      inflight,
      opts.rate,
    );
    log(describe('paced', paced));
    return { mode, saturate, paced, ...(profileFile ? { profile: profileFile } : {}) };
  } finally {
    close();
    await cluster.stopAll([node]);
    running = null;
    await admin.quit();
    await cluster.dropPrefix(prefix);
  }
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const runs: PublishRun[] = [];
  for (const mode of opts.modes) {
    runs.push(await scenario(mode));
  }
  if (opts.out) {
    const command = `npx tsx bench/redis-publish.ts ${process.argv.slice(2).join(' ')}`;
    writeFileSync(
      opts.out,
      `${JSON.stringify({ startedAt, command, label: opts.label, engine: opts.engine, tree: opts.tree, revision: revisionOf(opts.tree), redis: opts.redis, runs }, null, 2)}\n`,
    );
  }
  const row = (r: PublishRun, what: string, p: PublishPhase) =>
    `| ${opts.label} | ${r.mode} | ${what} | ${p.inflight} | ${Math.round(p.ackedPerSecond).toLocaleString('en-US')} | ` +
    `${p.ackMs.p50.toFixed(1)} | ${p.ackMs.p99.toFixed(1)} | ${p.serverCpuUsPerPublication.toFixed(0)} | ${p.redisCpuMsPer1000.toFixed(1)} | ${p.redisOpsPerPublication} | ${p.otherCpuPct.toFixed(0)} % |`;
  process.stdout.write(
    `${[
      '| build | publisher | load | in flight | acked publications/s | ack p50 ms | ack p99 ms | server CPU µs / publication | Redis CPU ms / 1,000 | Redis commands / publication | other processes CPU |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      ...runs.flatMap((r) => [row(r, 'as fast as acked', r.saturate), row(r, `${opts.rate}/s offered`, r.paced)]),
    ].join('\n')}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
    if (running?.alive() && running.pid !== undefined) process.kill(running.pid, 'SIGKILL');
    process.exit(1);
  },
);
