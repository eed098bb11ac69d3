/**
 * Chooses the in-host engine's transport between processes of one host by measurement:
 * a Unix domain socket with length-prefixed frames (engine/in-host/frames.ts) vs the
 * node:cluster IPC channel (`worker.send` / `process.send`, JSON serialisation).
 *
 *   npx tsx bench/in-host-transport.ts [--pings 2000] [--publications 50000] [--bytes 130] [--ipc-first]
 *
 * Forks one cluster worker. Round trip: `pings` sequential request/answer pairs, median and
 * p99 (whichever runs first also warms the JIT: `--ipc-first` swaps the order). Hand-off:
 * `publications` publication messages (header + `bytes` of JSON data) from the primary to the worker in batches of 100 per event-loop turn, the worker decoding each;
 * CPU (process.cpuUsage, user + system) per publication in each process. Bounded: at most
 * 20,000 pings and 500,000 publications; the worker exits when done.
 */
import cluster from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame, FrameReader } from '../packages/server/src/engine/in-host/frames.js';

function flag(name: string, def: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i === -1 ? def : Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`--${name}: an integer from 1 to ${max}`);
  return v;
}

const BATCH = 100;
type Msg = { k: string; i?: number; c?: string; o?: number; e?: string; t?: number; d?: string; cpu?: number; n?: number };
const cpuMicros = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return u.user + u.system;
};

if (cluster.isPrimary) await primary();
else await worker();

async function primary(): Promise<void> {
  const pings = flag('pings', 2000, 20_000);
  const publications = flag('publications', 50_000, 500_000);
  const bytes = flag('bytes', 130, 65_536);
  const data = JSON.stringify({ text: 'x'.repeat(Math.max(0, bytes - 11)) });
  const dir = mkdtempSync(join(tmpdir(), 'sb-inhost-'));
  const path = join(dir, 'engine.sock');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const w = cluster.fork({ SB_BENCH_SOCKET: path });
  const sock = await accepted;
  sock.setNoDelay(true);

  // One inbox per transport: the next message, awaited.
  const waiters: Array<(m: Msg) => void> = [];
  const deliver = (m: Msg) => waiters.shift()?.(m);
  const reader = new FrameReader();
  sock.on('data', (chunk: Buffer) => {
    for (const f of reader.push(chunk)) deliver(f.header as Msg);
  });
  w.on('message', (m: Msg) => deliver(m));
  const next = () => new Promise<Msg>((resolve) => waiters.push(resolve));

  const transports = {
    'unix socket + frames': (m: Msg, body?: string) => sock.write(encodeFrame(m, body)),
    'cluster IPC (json)': (m: Msg, body?: string) => w.send(body === undefined ? m : { ...m, d: body }),
  };
  const rows: string[] = [];
  const order = process.argv.includes('--ipc-first') ? Object.entries(transports).reverse() : Object.entries(transports);
  for (const [name, send] of order) {
    const rtts: number[] = [];
    for (let i = 0; i < pings; i++) {
      const start = process.hrtime.bigint();
      send({ k: 'ping', i });
      await next();
      rtts.push(Number(process.hrtime.bigint() - start) / 1000);
    }
    rtts.sort((a, b) => a - b);
    const cpu = process.cpuUsage();
    const wall = process.hrtime.bigint();
    for (let i = 0; i < publications; i++) {
      send({ k: 'pub', c: 't1|project:bench', o: i + 1, e: 'AbCdEfGh', t: Date.now() }, data);
      if ((i + 1) % BATCH === 0) await new Promise((r) => setImmediate(r));
    }
    send({ k: 'end', n: publications });
    const done = await next();
    const primaryUs = cpuMicros(cpu) / publications;
    const wallUs = Number(process.hrtime.bigint() - wall) / 1000 / publications;
    const workerUs = (done.cpu as number) / publications;
    rows.push(
      `| ${name} | ${rtts[Math.floor(pings / 2)]?.toFixed(1)} | ${rtts[Math.floor(pings * 0.99)]?.toFixed(1)} | ${primaryUs.toFixed(2)} | ${workerUs.toFixed(2)} | ${(primaryUs + workerUs).toFixed(2)} | ${wallUs.toFixed(2)} |`,
    );
  }
  process.stdout.write(
    `node ${process.version}, ${pings} pings, ${publications} publications of ${Buffer.byteLength(data)} bytes of data\n\n` +
      '| transport | RTT median µs | RTT p99 µs | primary CPU µs/pub | worker CPU µs/pub | total CPU µs/pub | wall µs/pub |\n|---|---|---|---|---|---|---|\n' +
      `${rows.join('\n')}\n`,
  );
  w.kill();
  sock.destroy();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}

async function worker(): Promise<void> {
  const sock = net.connect(process.env['SB_BENCH_SOCKET'] as string);
  sock.setNoDelay(true);
  const reader = new FrameReader();
  let received = 0;
  let cpu = process.cpuUsage();
  // The same handling for both transports: answer pings, count publications (data as text), report CPU at the end.
  const handle = (m: Msg, reply: (m: Msg) => void, data: string | undefined) => {
    if (m.k === 'ping') return reply({ k: 'pong', i: m.i as number });
    if (m.k === 'pub') {
      if (received === 0) cpu = process.cpuUsage();
      if (data !== undefined && data.length > 0) received++;
      return;
    }
    if (m.k === 'end') {
      reply({ k: 'done', cpu: cpuMicros(cpu), n: received });
      received = 0;
    }
  };
  sock.on('data', (chunk: Buffer) => {
    for (const f of reader.push(chunk)) handle(f.header as Msg, (m) => sock.write(encodeFrame(m)), f.body);
  });
  process.on('message', (m: Msg) => handle(m, (r) => process.send?.(r), m.d));
  process.on('disconnect', () => process.exit(0));
}
