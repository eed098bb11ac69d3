/**
 * Compressed fan-out side by side: Switchboard (compression on: each publication deflated
 * once), raw ws (permessage-deflate, per-socket compression with context takeover) and
 * Socket.IO 4.8 (perMessageDeflate on). N subscribers that negotiate deflate, on one channel,
 * held by K subscriber processes (bench/lib/compression-subscribers.ts), not the harness;
 * one publisher at R publications/s for D seconds of a ~2 KB JSON payload; each server a
 * fresh process (bench/servers/*.mjs, BENCH_DEFLATE=1).
 *
 *   npx tsx bench/compression.ts [--subscribers 1000] [--rate 100] [--duration 3] [--rounds 1] [--subscriber-processes 4]
 *
 * Options (each checked, also with --help; an unknown one is refused):
 *   --subscribers N           1000  subscribers on the channel (1 to 2,000)
 *   --rate R                  100   publications per second (1 to 1,000)
 *   --duration S              3     seconds of publishing (1 to 30)
 *   --rounds N                1     rounds of the three servers (1 to 5)
 *   --subscriber-processes K  4     processes holding the subscribers, each its share (1 to 16)
 *   --help                          print this and exit
 *
 * Per server: server CPU µs per delivery (utime+stime of its process from /proc, from the
 * first publication until every subscriber in every subscriber process got every one, so it
 * includes zlib's threads) and bytes written per delivery (wchar of /proc/<pid>/io over the
 * same window: WebSocket frames as written to the sockets, TCP/IP headers excluded). Every
 * subscriber must get every publication, byte for byte (each subscriber process checks
 * against payload(n)). The wait for delivery after publishing scales with the deliveries
 * expected (20 s + 0.5 ms each, at most 300 s); a server that has not delivered everything
 * by then is recorded as not sustained, with what it delivered and the CPU and bytes per
 * delivery so far, and with the subscribers whose connection the server closed (and why).
 * Writes bench/results/compression.json. Bounded: every wait has a
 * deadline, and every process the run started is killed by its PID at the end, on failure
 * and on SIGINT/SIGTERM.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '@switchboard/server';
import { io as ioClient } from 'socket.io-client';
import WebSocket from 'ws';
import { ArgReader } from './lib/args.js';
import { CHANNEL, payload, TARGETS, type Target } from './lib/compression-peers.js';
import type { SubscribersCount, SubscribersReply, SubscribersStart } from './lib/compression-subscribers.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SUBSCRIBERS_WORKER = join(HERE, 'lib', 'compression-subscribers.ts');

interface Options {
  subscribers: number;
  rate: number;
  duration: number;
  rounds: number;
  subscriberProcesses: number;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { subscribers: 1000, rate: 100, duration: 3, rounds: 1, subscriberProcesses: 4 };
  const a = new ArgReader(argv);
  const int = (flag: string, max: number) => {
    const v = Number(a.value());
    if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`${flag}: an integer from 1 to ${max}`);
    return v;
  };
  let help = false;
  for (let flag = a.next(); flag !== undefined; flag = a.next()) {
    if (flag === '--subscribers') o.subscribers = int(flag, 2000);
    else if (flag === '--rate') o.rate = int(flag, 1000);
    else if (flag === '--duration') o.duration = int(flag, 30);
    else if (flag === '--rounds') o.rounds = int(flag, 5);
    else if (flag === '--subscriber-processes') o.subscriberProcesses = int(flag, 16);
    else if (flag === '--help') help = true;
    else throw new Error(`unknown option ${flag}`);
  }
  if (help) {
    process.stdout.write(`${readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]}*/\n`);
    process.exit(0);
  }
  return o;
}

const opts = parseOptions(process.argv.slice(2));
const secret = randomBytes(32).toString('hex');
const TICKS = (process.env['CLK_TCK'] && Number(process.env['CLK_TCK'])) || 100;
/** Every child process the run started (servers and subscriber processes), killed by PID at the end. */
const started = new Set<ChildProcess>();

function killStarted(): void {
  for (const c of started) c.kill('SIGKILL');
}
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    killStarted();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });

function track(child: ChildProcess): ChildProcess {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

/** utime + stime of a process, µs. */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS;
}

/** Bytes the process passed to write syscalls (sockets included). */
function written(pid: number): number {
  const line = readFileSync(`/proc/${pid}/io`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('wchar:'));
  return Number(line?.split(/\s+/)[1]);
}

/** How long to wait, after publishing, for `deliveries` deliveries: 20 s + 0.5 ms each, at most 300 s. */
function deliveryDeadlineMs(deliveries: number): number {
  return Math.min(300_000, 20_000 + deliveries * 0.5);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function startServer(target: Target): Promise<{ child: ChildProcess; port: number }> {
  const child = track(
    fork(join(HERE, 'servers', `${target}.mjs`), {
      env: { ...process.env, BENCH_SECRET: secret, BENCH_DEFLATE: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 30 s')), 30_000);
    child.on('message', (m: { type: string; port?: number }) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m.port as number);
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  }).catch((err: Error) => {
    child.kill('SIGKILL');
    throw err;
  });
  return { child, port };
}

/** Asks a child to stop, and kills it by PID if it has not exited within 10 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if (child.connected) child.send({ type: 'stop' });
  const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(hard);
}

/** A subscriber process: its share of the subscribers, and its replies as promises. */
class SubscriberProcess {
  readonly child: ChildProcess;
  readonly subscribed: Promise<number>;
  readonly delivered: Promise<SubscribersCount>;
  #onReport: ((r: SubscribersCount) => void) | undefined;

  constructor(start: SubscribersStart) {
    this.child = track(fork(SUBSCRIBERS_WORKER, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const exited = new Promise<never>((_, reject) =>
      this.child.once('exit', (code, signal) => reject(new Error(`a subscriber process exited (${signal ?? code})`))),
    );
    let subscribed!: (n: number) => void;
    let failed!: (err: Error) => void;
    let delivered!: (r: SubscribersCount) => void;
    this.subscribed = Promise.race([
      new Promise<number>((resolve, reject) => {
        subscribed = resolve;
        failed = reject;
      }),
      exited,
    ]);
    this.delivered = Promise.race([new Promise<SubscribersCount>((r) => (delivered = r)), exited]);
    // Rejections nobody awaits any more (a process stopped at the end) are not errors of the run.
    this.subscribed.catch(() => {});
    this.delivered.catch(() => {});
    this.child.on('message', (m: SubscribersReply) => {
      if (m.type === 'subscribed') subscribed(m.negotiated);
      else if (m.type === 'failed') failed(new Error(m.message));
      else if (m.type === 'delivered') delivered(m);
      else if (m.type === 'report') this.#onReport?.(m);
    });
    this.child.send(start);
  }

  /** Deliveries so far, and whether each was intact. */
  report(): Promise<SubscribersCount> {
    const answer = new Promise<SubscribersCount>((r) => (this.#onReport = r));
    this.child.send({ type: 'report' });
    return withTimeout(answer, 30_000, 'a subscriber process to report');
  }
}

/** A publisher over a plain (uncompressed) connection of the target's own protocol. */
function publisher(target: Target, port: number): Promise<{ send(data: unknown): void; close(): void }> {
  return new Promise((resolve, reject) => {
    if (target === 'socketio') {
      mintToken(secret, { sub: 'publisher', tenant: 'bench', caps: {} }).then((token) => {
        const socket = ioClient(`http://127.0.0.1:${port}`, {
          transports: ['websocket'],
          auth: { token },
          reconnection: false,
          perMessageDeflate: false,
        } as never);
        socket.on('connect', () => resolve({ send: (data) => socket.emit('publish', { room: CHANNEL, data }), close: () => socket.disconnect() }));
        socket.on('connect_error', reject);
      }, reject);
      return;
    }
    const url = target === 'ws' ? `ws://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/ws`;
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let id = 10;
    ws.on('error', reject);
    ws.on('open', async () => {
      if (target === 'switchboard') {
        const token = await mintToken(secret, { sub: 'publisher', tenant: 'bench', caps: { 'project:*': ['publish'] } });
        ws.send(JSON.stringify({ id: id++, method: 'connect', params: { token } }));
      }
      resolve({
        send: (data) =>
          ws.send(
            target === 'ws'
              ? JSON.stringify({ type: 'pub', channel: CHANNEL, data })
              : JSON.stringify({ id: id++, method: 'publish', params: { channel: CHANNEL, data } }),
          ),
        close: () => ws.terminate(),
      });
    });
  });
}

interface Row {
  target: Target;
  round: number;
  subscribers: number;
  subscriberProcesses: number;
  rate: number;
  publications: number;
  deliveries: number;
  expected: number;
  /** Whether every subscriber got every publication within the deadline (`deadlineSeconds` after publishing). */
  sustained: boolean;
  deadlineSeconds: number;
  /** From the first publication to the last delivery (sustained) or to the deadline (not sustained). */
  windowSeconds: number;
  negotiated: number;
  /** Subscribers whose connection the server or the network closed during the run, and why. */
  lost: number;
  lostReasons: string[];
  payloadBytes: number;
  /** The server's CPU over the window, and all subscriber processes' together: which side was the limit. */
  serverCpuSeconds: number;
  subscriberCpuSeconds: number;
  /** The machine's 1-minute load average at the end of the window (it is shared). */
  loadAverage1m: number;
  /** Per delivery made in the window (so far, when not sustained); null when none was. */
  cpuMicrosPerDelivery: number | null;
  bytesPerDelivery: number | null;
}

async function run(target: Target, round: number): Promise<Row> {
  const { child, port } = await startServer(target);
  const pid = child.pid as number;
  const total = opts.rate * opts.duration;
  const expected = total * opts.subscribers;
  const k = Math.min(opts.subscriberProcesses, opts.subscribers);
  const procs: SubscriberProcess[] = [];
  try {
    for (let i = 0, first = 0; i < k; i++) {
      const count = Math.floor(opts.subscribers / k) + (i < opts.subscribers % k ? 1 : 0);
      procs.push(new SubscriberProcess({ type: 'start', target, port, secret, first, count, publications: total }));
      first += count;
    }
    const negotiated = (await withTimeout(Promise.all(procs.map((p) => p.subscribed)), 300_000, `${target}: subscribers`)).reduce((s, n) => s + n, 0);
    const pub = await withTimeout(publisher(target, port), 30_000, `${target}: the publisher`);
    const deadlineMs = deliveryDeadlineMs(expected);
    const subscriberCpu = () => procs.reduce((sum, p) => sum + cpuMicros(p.child.pid as number), 0);
    const cpu0 = cpuMicros(pid);
    const subscriberCpu0 = subscriberCpu();
    const bytes0 = written(pid);
    const t0 = performance.now();
    // Publication n at t0 + n / rate, whatever the timer granularity.
    for (let n = 0; n < total; n++) {
      const wait = t0 + (n * 1000) / opts.rate - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pub.send(payload(n));
    }
    const outcome = await withTimeout(Promise.all(procs.map((p) => p.delivered)), deadlineMs, `${target}: every delivery`).catch((err: Error) => {
      if (!err.message.startsWith('timed out')) throw err;
      return null;
    });
    const cpu = cpuMicros(pid) - cpu0;
    const bytes = written(pid) - bytes0;
    const subscriberCpuSeconds = (subscriberCpu() - subscriberCpu0) / 1e6;
    const loadAverage1m = loadavg()[0] as number;
    const windowSeconds = (performance.now() - t0) / 1000;
    const counts = outcome ?? (await Promise.all(procs.map((p) => p.report())));
    pub.close();
    const deliveries = counts.reduce((s, c) => s + c.deliveries, 0);
    const lost = counts.reduce((s, c) => s + c.lost, 0);
    const lostReasons = [...new Set(counts.flatMap((c) => c.reasons))];
    if (counts.some((c) => !c.intact)) throw new Error(`${target}: a subscriber received a payload that differs from the one published`);
    return {
      target,
      round,
      subscribers: opts.subscribers,
      subscriberProcesses: k,
      rate: opts.rate,
      publications: total,
      deliveries,
      expected,
      sustained: outcome !== null,
      deadlineSeconds: deadlineMs / 1000,
      windowSeconds,
      negotiated,
      lost,
      lostReasons,
      payloadBytes: Buffer.byteLength(JSON.stringify(payload(0))),
      serverCpuSeconds: cpu / 1e6,
      subscriberCpuSeconds,
      loadAverage1m,
      cpuMicrosPerDelivery: deliveries > 0 ? cpu / deliveries : null,
      bytesPerDelivery: deliveries > 0 ? bytes / deliveries : null,
    };
  } finally {
    await Promise.all(procs.map((p) => stopChild(p.child)));
    await stopChild(child);
  }
}

const rows: Row[] = [];
try {
  for (let round = 1; round <= opts.rounds; round++) {
    for (const target of TARGETS) {
      process.stderr.write(`round ${round}: ${target} …\n`);
      const row = await run(target, round).catch((err: Error) => {
        process.stderr.write(`  ${target} failed: ${err.message}\n`);
        return null;
      });
      if (row === null) continue;
      rows.push(row);
      const per = (v: number | null, digits: number) => (v === null ? '–' : v.toFixed(digits));
      process.stderr.write(
        `  ${row.sustained ? 'sustained' : `NOT SUSTAINED (deadline ${row.deadlineSeconds} s after publishing)`}: ${row.deliveries}/${row.expected} delivered in ${row.windowSeconds.toFixed(1)} s, deflate negotiated by ${row.negotiated}/${row.subscribers}, ${row.lost} connections lost${row.lost ? ` (${row.lostReasons.join(', ')})` : ''}, ${per(row.cpuMicrosPerDelivery, 2)} µs CPU and ${per(row.bytesPerDelivery, 0)} bytes written per delivery (payload ${row.payloadBytes} bytes of JSON); CPU over the window: server ${row.serverCpuSeconds.toFixed(1)} s, subscriber processes ${row.subscriberCpuSeconds.toFixed(1)} s; load average ${row.loadAverage1m.toFixed(1)}\n`,
      );
    }
  }
} finally {
  killStarted();
}
writeFileSync(
  join(HERE, 'results', 'compression.json'),
  `${JSON.stringify({ at: new Date().toISOString(), node: process.version, subscriberProcesses: opts.subscriberProcesses, rows }, null, 2)}\n`,
);
