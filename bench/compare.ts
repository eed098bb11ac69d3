/**
 * Switchboard vs Socket.IO vs raw ws, side by side, in one run.
 *
 *   npx tsx bench/compare.ts [--json] [--no-docs] [--servers switchboard,socketio,ws]
 *     [--rounds 2] [--connect 5000] [--fanout 1000:25,…,10000:25] [--duration 5] [--warmup 2]
 *     [--workers 2] [--addresses 16] [--concurrency 100] [--pin] [--profile] [--max-minutes 60] [--storm 10000]
 *     [--quiet-wait 120] [--retry-noisy 2] [--nice -10] [--storm-workers 1]
 *   npx tsx bench/compare.ts --render results.json   # rewrite docs/benchmarks.md from a saved --json run
 *
 * Before each scenario the run waits (up to --quiet-wait seconds) until other processes use
 * less than 15 % of a core, and every run records how much CPU other processes used while it
 * measured. A scenario during which they used more than 25 % of a core is repeated (up to
 * --retry-noisy times) and the attempt with the least background load is kept. On a shared
 * machine that never goes quiet, --nice -10 (root) gives the bench and its servers priority
 * over other work (every process the run starts inherits it).
 *
 * Every server runs in its own child process (`switchboard-wN`: `serve --workers N`, a primary
 * and N workers, whose CPU and RSS are summed over the process tree); subscribers run in
 * worker processes; the publisher runs here. Every wait has a deadline and the whole run has one too; only the
 * processes started here are ever killed, by pid.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, setPriority } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BenchClient,
  BODY,
  CHANNELS,
  type ComparePayload,
  type ConnectReport,
  clockTicksPerSecond,
  cpuTicks,
  createClient,
  drainDeliveries,
  latencySummary,
  mintBenchToken,
  nowUs,
  OtherLoad,
  Peer,
  quietest,
  type ResultsReport,
  rssBytes,
  type ServerReply,
  type ServerRequest,
  SUBSCRIBER_WORKER,
  type SubscriberReply,
  type SubscriberRequest,
  sleep,
  waitQuiet,
  withTimeout,
} from '@switchboard/loadgen';
import { parseArgs } from './lib/compare-options.js';
import { buildFingerprint, machineInfo } from './lib/machine.js';
import { CHART_DIR, renderMarkdown, writeCharts, writeDocs } from './lib/report.js';
import type { BenchResults, ConnectRun, FanoutRun } from './lib/results.js';
import { reconnectStorm } from './lib/storm.js';
import { processTree, type ServerVariant, serverScript, variantLabel, wireKind } from './lib/variants.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Clock ticks per second of /proc CPU figures. */
const CLK_TCK = clockTicksPerSecond();
const ROOT = join(HERE, '..');

const opts = parseArgs(process.argv.slice(2));
const log = (msg: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);
const secret = randomBytes(48).toString('base64url');
const addresses = Array.from({ length: opts.addresses }, (_, i) => `127.0.0.${i + 2}`);
let addressCursor = 0;
const started = new Set<Peer<{ type: string }, { type: string }>>();

// ---------------------------------------------------------------- processes

type ServerPeer = Peer<ServerRequest, ServerReply>;
type WorkerPeer = Peer<SubscriberRequest, SubscriberReply>;

/** A started server: its IPC peer, URL, and every process of it (one, or a primary and its workers). */
async function startServer(kind: ServerVariant): Promise<{ peer: ServerPeer; url: string; pids: number[] }> {
  // Bare node (the servers are plain JS): no TypeScript loader thread in the measured process.
  const execArgv = ['--expose-gc'];
  const script = serverScript(kind);
  const peer: ServerPeer = Peer.fork(kind, join(HERE, 'servers', script.file), {
    execArgv,
    env: { ...process.env, ...script.env, BENCH_SECRET: secret },
    stdout: 'inherit',
  });
  started.add(peer as never);
  // Workers forked later inherit the affinity.
  if (opts.pin) execFileSync('taskset', ['-a', '-cp', '0', String(peer.pid)], { stdio: 'ignore' });
  const ready = await peer.wait('ready', 30_000);
  await sleep(300);
  return { peer, url: ready.url, pids: processTree(peer.pid) };
}

/** utime + stime of every process of a server, clock ticks. */
const treeTicks = (pids: number[]) => pids.reduce((a, pid) => a + cpuTicks(pid), 0);
/** RSS of every process of a server, bytes. */
const treeRss = (pids: number[]) => pids.reduce((a, pid) => a + (rssBytes(pid) ?? 0), 0);

async function stopServer(peer: ServerPeer): Promise<void> {
  try {
    await peer.request({ type: 'stop' }, 'stopped', 8000);
  } catch (err) {
    log(`  ${peer.name}: ${(err as Error).message}`);
  }
  await peer.exit(3000);
  started.delete(peer as never);
}

/** With --profile: CPU-profile the server during the measured window only (bench/profiles/<tag>.cpuprofile). */
async function profileWindow(peer: ServerPeer, action: 'start' | 'stop', tag: string): Promise<void> {
  if (!opts.profile) return;
  const dir = join(HERE, 'profiles');
  mkdirSync(dir, { recursive: true });
  await peer.request({ type: 'profile', action, file: join(dir, `${tag}.cpuprofile`) }, 'profiled', 60_000);
}

function serverStats(peer: ServerPeer, gc: boolean) {
  return peer.request({ type: 'stats', gc }, 'stats', 30_000);
}

function startWorkers(): WorkerPeer[] {
  const workers: WorkerPeer[] = [];
  for (let i = 0; i < opts.workers; i++) {
    const w: WorkerPeer = Peer.fork(`worker${i}`, SUBSCRIBER_WORKER, { stdout: 'inherit' });
    started.add(w as never);
    if (opts.pin && availableParallelism() > 1) execFileSync('taskset', ['-a', '-cp', `1-${availableParallelism() - 1}`, String(w.pid)], { stdio: 'ignore' });
    workers.push(w);
  }
  return workers;
}

function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/** Open `count` connections spread over the workers; resolves with the merged report. */
async function connectAll(
  workers: WorkerPeer[],
  kind: ServerVariant,
  url: string,
  count: number,
  subscribe: boolean,
  tag: string,
): Promise<ConnectReport & { seconds: number }> {
  const shares = split(count, workers.length);
  const progress = new Map<number, number>();
  const ticker = setInterval(() => {
    const done = [...progress.values()].reduce((a, b) => a + b, 0);
    log(`  ${tag}: ${done.toLocaleString('en-US')} / ${count.toLocaleString('en-US')} connected`);
  }, 2000);
  try {
    const reports = await Promise.all(
      workers.map((w, i) => {
        w.onMessage = (msg) => {
          if (msg.type === 'progress') progress.set(i, msg.ok + msg.failed);
        };
        const req: SubscriberRequest = {
          type: 'connect',
          kind: wireKind(kind),
          url,
          count: shares[i] as number,
          subscribe,
          channel: CHANNELS[wireKind(kind)],
          secret,
          addresses,
          addressOffset: addressCursor,
          concurrency: Math.ceil(opts.concurrency / workers.length),
          userPrefix: `${tag}-w${i}-`,
        };
        addressCursor += shares[i] as number;
        return w.request(req, 'connected', 600_000);
      }),
    );
    const valid = reports.filter((r) => r.startUs > 0);
    const startUs = Math.min(...valid.map((r) => r.startUs));
    const endUs = Math.max(...valid.map((r) => r.endUs));
    return {
      type: 'connected',
      ok: reports.reduce((a, r) => a + r.ok, 0),
      failed: reports.reduce((a, r) => a + r.failed, 0),
      errors: reports.flatMap((r) => r.errors).slice(0, 5),
      startUs,
      endUs,
      seconds: (endUs - startUs) / 1e6,
    };
  } finally {
    clearInterval(ticker);
  }
}

async function closeAll(workers: WorkerPeer[], server: ServerPeer): Promise<void> {
  await Promise.all(workers.map((w) => w.request({ type: 'close' }, 'closed', 60_000)));
  // Wait (bounded) until the server has let go of every connection.
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const s = await serverStats(server, false);
    if (s.connections === 0) return;
    await sleep(200);
  }
  log(`  ${server.name}: connections still open after close; continuing`);
}

// ---------------------------------------------------------------- scenarios

const MB = 1024 * 1024;

async function connectScenario(workers: WorkerPeer[], kind: ServerVariant, round: number): Promise<ConnectRun> {
  const tag = `r${round}-${kind}-connect`;
  await waitQuiet(
    workers.map((w) => w.pid),
    opts.quietWait,
    log,
  );
  log(`${variantLabel(kind)} round ${round}: connect ${opts.connect.toLocaleString('en-US')} idle connections`);
  const { peer, url, pids } = await startServer(kind);
  try {
    const base = await serverStats(peer, true);
    const rss0 = treeRss(pids);
    const cpu0 = treeTicks(pids);
    const wcpu0 = workers.reduce((a, w) => a + cpuTicks(w.pid), 0);
    await profileWindow(peer, 'start', tag);
    const other = new OtherLoad([process.pid, ...pids, ...workers.map((w) => w.pid)]);
    const rep = await connectAll(workers, kind, url, opts.connect, false, tag);
    const { normal: otherCpuPct, niced: nicedCpuPct } = other.pct(CLK_TCK);
    await profileWindow(peer, 'stop', tag);
    const cpu1 = treeTicks(pids);
    const wcpu1 = workers.reduce((a, w) => a + cpuTicks(w.pid), 0);
    await sleep(1000);
    const after = await serverStats(peer, true);
    const rss1 = treeRss(pids);
    const run: ConnectRun = {
      server: kind,
      round,
      target: opts.connect,
      connected: rep.ok,
      failed: rep.failed,
      errors: rep.errors,
      seconds: rep.seconds,
      perSecond: rep.ok / rep.seconds,
      cpuUsPerConnection: ((cpu1 - cpu0) * 1e6) / CLK_TCK / Math.max(1, rep.ok),
      serverCpuPct: (((cpu1 - cpu0) * 1e6) / CLK_TCK / (rep.seconds * 1e6)) * 100,
      loadgenCpuPct: (((wcpu1 - wcpu0) * 1e6) / CLK_TCK / (rep.seconds * 1e6)) * 100,
      otherCpuPct,
      nicedCpuPct,
      attempts: 1,
      rssBaseMB: rss0 / MB,
      rssAfterMB: rss1 / MB,
      rssPerConnKB: (rss1 - rss0) / 1024 / Math.max(1, rep.ok),
      heapPerConnKB: (after.heapUsed + after.external - base.heapUsed - base.external) / 1024 / Math.max(1, rep.ok),
    };
    log(
      `  ${rep.ok} connected (${rep.failed} failed${rep.errors.length ? `: ${rep.errors.join('; ')}` : ''}) in ${rep.seconds.toFixed(2)} s = ${Math.round(run.perSecond)}/s; ` +
        `server ${run.cpuUsPerConnection.toFixed(0)} µs CPU/conn (${run.serverCpuPct.toFixed(0)} % of a core, load-gen ${run.loadgenCpuPct.toFixed(0)} %, other processes ${run.otherCpuPct.toFixed(0)} % + niced ${run.nicedCpuPct.toFixed(0)} %); ` +
        `RSS ${run.rssBaseMB.toFixed(1)} -> ${run.rssAfterMB.toFixed(1)} MB = ${run.rssPerConnKB.toFixed(1)} KB/conn`,
    );
    await closeAll(workers, peer);
    return run;
  } finally {
    await stopServer(peer);
  }
}

interface PublishStats {
  sent: number;
  acked: number;
  failed: number;
  errors: string[];
}

/** Publish at `rate` msgs/s for `ms`, paced on the clock (not by acks); wait (bounded) for the acks. */
async function publishFor(client: BenchClient, channel: string, rate: number, ms: number, warm: boolean): Promise<PublishStats> {
  const total = Math.max(1, Math.round((rate * ms) / 1000));
  const stats: PublishStats = { sent: 0, acked: 0, failed: 0, errors: [] };
  const acks: Array<Promise<void>> = [];
  const start = nowUs();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((nowUs() - start) * rate) / 1e6) + 1);
      while (stats.sent < due) {
        const data: ComparePayload = warm ? { t: nowUs(), seq: stats.sent, w: 1, body: BODY } : { t: nowUs(), seq: stats.sent, body: BODY };
        stats.sent++;
        acks.push(
          client.publish(channel, data).then(
            () => {
              stats.acked++;
            },
            (err: Error) => {
              stats.failed++;
              if (stats.errors.length < 3) stats.errors.push(err.message);
            },
          ),
        );
      }
      if (stats.sent >= total) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, 1);
    tick();
  });
  await withTimeout(Promise.all(acks), 30_000, 'publish acks').catch((err: Error) => stats.errors.push(err.message));
  return stats;
}

async function fanoutScenario(workers: WorkerPeer[], kind: ServerVariant, round: number, subscribers: number, rate: number): Promise<FanoutRun> {
  const tag = `r${round}-${kind}-fanout${subscribers}`;
  const wire = wireKind(kind);
  const channel = CHANNELS[wire];
  await waitQuiet(
    workers.map((w) => w.pid),
    opts.quietWait,
    log,
  );
  log(`${variantLabel(kind)} round ${round}: fan-out to ${subscribers.toLocaleString('en-US')} subscribers at ${rate} msgs/s for ${opts.durationSeconds} s`);
  const { peer, url, pids } = await startServer(kind);
  let publisher: BenchClient | null = null;
  try {
    const base = await serverStats(peer, true);
    const rss0 = treeRss(pids);
    const rep = await connectAll(workers, kind, url, subscribers, true, tag);
    log(`  ${rep.ok} subscribed (${rep.failed} failed${rep.errors.length ? `: ${rep.errors.join('; ')}` : ''}) in ${rep.seconds.toFixed(2)} s`);
    await sleep(1000);
    const after = await serverStats(peer, true);
    const rss1 = treeRss(pids);

    const pubToken = wire === 'ws' ? undefined : await mintBenchToken(secret, `${tag}-publisher`);
    publisher = createClient(wire, { url, localAddress: '127.0.0.1', ...(pubToken ? { token: pubToken } : {}) });
    await withTimeout(publisher.ready, 30_000, 'publisher connect');

    if (opts.warmupSeconds > 0) {
      const warm = await publishFor(publisher, channel, rate, opts.warmupSeconds * 1000, true);
      if (warm.failed) log(`  warm-up: ${warm.failed} publishes failed: ${warm.errors.join('; ')}`);
      await sleep(500);
    }
    await Promise.all(workers.map((w) => w.request({ type: 'reset' }, 'reset', 10_000)));
    await profileWindow(peer, 'start', tag);

    const cpu0 = treeTicks(pids);
    const wcpu0 = workers.reduce((a, w) => a + cpuTicks(w.pid), 0);
    const other = new OtherLoad([process.pid, ...pids, ...workers.map((w) => w.pid)]);
    const t0 = nowUs();
    const pub = await publishFor(publisher, channel, rate, opts.durationSeconds * 1000, false);
    const expected = pub.acked * rep.ok;

    // Bounded: a server still this far behind after publishing stopped did not sustain the rate.
    await drainDeliveries(workers, expected, Math.max(10_000, 2 * opts.durationSeconds * 1000));
    const cpu1 = treeTicks(pids);
    const wcpu1 = workers.reduce((a, w) => a + cpuTicks(w.pid), 0);
    const { normal: otherCpuPct, niced: nicedCpuPct } = other.pct(CLK_TCK);
    const t1 = nowUs();
    await profileWindow(peer, 'stop', tag);

    const results = (await Promise.all(workers.map((w) => w.request({ type: 'results' }, 'results', 60_000)))) as ResultsReport[];
    const all = new Float64Array(results.reduce((a, r) => a + r.latencies.length, 0));
    let off = 0;
    for (const r of results) {
      all.set(r.latencies, off);
      off += r.latencies.length;
    }
    const delivered = results.reduce((a, r) => a + r.received, 0);
    const lastRecv = Math.max(...results.map((r) => r.lastRecvUs));
    const outOfOrder = results.reduce((a, r) => a + r.outOfOrder, 0);
    const minPerConn = Math.min(...results.map((r) => r.minPerConn));
    const maxPerConn = Math.max(...results.map((r) => r.maxPerConn));
    const cpuUs = ((cpu1 - cpu0) * 1e6) / CLK_TCK;
    const run: FanoutRun = {
      server: kind,
      round,
      subscribers,
      connected: rep.ok,
      connectFailed: rep.failed,
      errors: [...rep.errors, ...pub.errors],
      connectSeconds: rep.seconds,
      rssBaseMB: rss0 / MB,
      rssSubscribedMB: rss1 / MB,
      rssPerConnKB: (rss1 - rss0) / 1024 / Math.max(1, rep.ok),
      heapPerConnKB: (after.heapUsed + after.external - base.heapUsed - base.external) / 1024 / Math.max(1, rep.ok),
      rate,
      durationSeconds: opts.durationSeconds,
      published: pub.acked,
      publishFailed: pub.failed,
      expected,
      delivered,
      deliveryPct: expected ? (delivered / expected) * 100 : 0,
      complete: rep.failed === 0 && pub.failed === 0 && delivered === expected && minPerConn === pub.acked && maxPerConn === pub.acked && outOfOrder === 0,
      outOfOrder,
      minPerConn,
      maxPerConn,
      deliveredPerSecond: lastRecv > t0 ? delivered / ((lastRecv - t0) / 1e6) : 0,
      latencyMs: latencySummary(all),
      cpuUsPerDelivery: delivered ? cpuUs / delivered : NaN,
      serverCpuPct: (cpuUs / (t1 - t0)) * 100,
      loadgenCpuPct: (((wcpu1 - wcpu0) * 1e6) / CLK_TCK / (t1 - t0)) * 100,
      otherCpuPct,
      nicedCpuPct,
      attempts: 1,
    };
    const l = run.latencyMs;
    log(
      `  ${run.delivered.toLocaleString('en-US')} / ${expected.toLocaleString('en-US')} delivered (${run.complete ? 'complete' : 'INCOMPLETE'}), ` +
        `${Math.round(run.deliveredPerSecond).toLocaleString('en-US')} msgs/s, p50 ${l.p50.toFixed(2)} p95 ${l.p95.toFixed(2)} p99 ${l.p99.toFixed(2)} max ${l.max.toFixed(1)} ms, ` +
        `${run.cpuUsPerDelivery.toFixed(2)} µs CPU/delivery (server ${run.serverCpuPct.toFixed(0)} %, load-gen ${run.loadgenCpuPct.toFixed(0)} %, other processes ${run.otherCpuPct.toFixed(0)} % + niced ${run.nicedCpuPct.toFixed(0)} %), ${run.rssPerConnKB.toFixed(1)} KB/subscriber`,
    );
    await publisher.close(5000);
    publisher = null;
    await closeAll(workers, peer);
    return run;
  } finally {
    if (publisher) await publisher.close(2000).catch(() => {});
    await stopServer(peer);
  }
}

/** Niced processes count too: even at a lower priority they measurably disturb latencies here. */
const background = (r: { otherCpuPct: number; nicedCpuPct: number }) => r.otherCpuPct + r.nicedCpuPct;

// ---------------------------------------------------------------- main

function killStarted(): void {
  for (const p of started) p.kill();
}

async function main(): Promise<void> {
  if (opts.render) {
    const saved = JSON.parse(readFileSync(opts.render, 'utf8')) as BenchResults;
    const markdown = renderMarkdown(saved);
    if (opts.docs) {
      writeDocs(join(ROOT, 'docs', 'benchmarks.md'), markdown);
      writeCharts(join(ROOT, 'docs', CHART_DIR), saved);
    }
    process.stderr.write(`${markdown}\n`);
    return;
  }
  if (opts.nice !== 0) {
    if (!Number.isInteger(opts.nice) || opts.nice < -20 || opts.nice > 19) throw new Error('--nice: expected an integer from -20 to 19');
    setPriority(0, opts.nice);
    log(`running at nice ${opts.nice}; the servers and workers inherit it`);
  }
  const watchdog = setTimeout(() => {
    log(`run exceeded --max-minutes ${opts.maxMinutes}; stopping`);
    killStarted();
    process.exit(2);
  }, opts.maxMinutes * 60_000);
  watchdog.unref();
  process.on('SIGINT', () => {
    killStarted();
    process.exit(130);
  });
  process.on('exit', killStarted);

  const args = process.argv.slice(2).filter((a) => a !== '--json');
  const results: BenchResults = {
    startedAt: new Date().toISOString(),
    command: `npx tsx bench/compare.ts${args.length ? ` ${args.join(' ')}` : ''}`,
    machine: machineInfo(),
    options: {
      servers: opts.servers,
      rounds: opts.rounds,
      connect: opts.connect,
      fanout: opts.fanout,
      durationSeconds: opts.durationSeconds,
      warmupSeconds: opts.warmupSeconds,
      workers: opts.workers,
      addresses: opts.addresses,
      concurrency: opts.concurrency,
      pin: opts.pin,
      profile: opts.profile,
      nice: opts.nice,
      storm: opts.storm,
      stormWorkers: opts.stormWorkers,
    },
    connect: [],
    fanout: [],
  };
  log(
    `machine: ${results.machine.nproc} cores, ${results.machine.cpu}, Node ${results.machine.node}; ${opts.workers} workers, ${opts.addresses} source addresses`,
  );
  const workers = startWorkers();
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      for (const kind of opts.servers) {
        if (opts.connect > 0)
          results.connect.push(await quietest(`${kind} connect`, () => connectScenario(workers, kind, round), background, opts.retryNoisy, log));
        for (const f of opts.fanout) {
          results.fanout.push(
            await quietest(
              `${kind} fan-out ${f.subscribers}`,
              () => fanoutScenario(workers, kind, round, f.subscribers, f.rate),
              background,
              opts.retryNoisy,
              log,
            ),
          );
        }
      }
    }
    if (opts.storm > 0 && opts.servers.some((s) => wireKind(s) === 'switchboard')) {
      await waitQuiet(
        workers.map((w) => w.pid),
        opts.quietWait,
        log,
      );
      results.storm = await reconnectStorm(ROOT, opts.storm, opts.workers, opts.stormWorkers, started as Set<never>, log);
    }
  } finally {
    for (const w of workers) {
      w.send({ type: 'exit' });
      await w.exit(3000);
      started.delete(w as never);
    }
  }
  const buildAfter = buildFingerprint();
  if (buildAfter !== results.machine.build) {
    results.machine.buildChanged = true;
    log(`WARNING: packages/*/dist changed during the run (${results.machine.build} -> ${buildAfter}); rerun on a quiet tree`);
  }
  const markdown = renderMarkdown(results);
  if (opts.docs) {
    writeDocs(join(ROOT, 'docs', 'benchmarks.md'), markdown);
    writeCharts(join(ROOT, 'docs', CHART_DIR), results);
    log(`wrote docs/benchmarks.md and docs/${CHART_DIR}/*.svg`);
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else process.stderr.write(`\n${markdown}\n`);
  clearTimeout(watchdog);
}

main().catch((err) => {
  log(`failed: ${(err as Error).stack ?? err}`);
  killStarted();
  process.exit(1);
});
