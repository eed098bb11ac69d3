/**
 * Compressed fan-out side by side: Switchboard (compression on: each publication deflated
 * once), raw ws (permessage-deflate, per-socket compression with context takeover) and
 * Socket.IO 4.8 (perMessageDeflate on). N subscribers that negotiate deflate, on one channel;
 * one publisher at R publications/s for D seconds of a ~2 KB JSON payload; each server a
 * fresh process (bench/servers/*.mjs, BENCH_DEFLATE=1).
 *
 *   npx tsx bench/compression.ts [--subscribers 1000] [--rate 100] [--duration 3] [--rounds 1]
 *
 * Per server: server CPU µs per delivery (utime+stime of its process from /proc, from the
 * first publication until every subscriber got every one, so it includes zlib's threads)
 * and bytes written per delivery (wchar of /proc/<pid>/io over the same window: WebSocket
 * frames as written to the sockets, TCP/IP headers excluded). Every subscriber must get
 * every publication, byte for byte. Writes bench/results/compression.json. Bounded:
 * ≤ 2,000 subscribers, ≤ 1,000 publications/s, ≤ 30 s, every wait has a deadline.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '@switchboard/server';
import { io as ioClient, type Socket } from 'socket.io-client';
import WebSocket from 'ws';

const HERE = dirname(fileURLToPath(import.meta.url));

function flag(name: string, def: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i === -1 ? def : Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`--${name}: an integer from 1 to ${max}`);
  return v;
}

const SUBSCRIBERS = flag('subscribers', 1000, 2000);
const RATE = flag('rate', 100, 1000);
const DURATION = flag('duration', 3, 30);
const ROUNDS = flag('rounds', 1, 5);
const CHANNEL = 'project:zip';
const secret = randomBytes(32).toString('hex');
const TICKS = (process.env['CLK_TCK'] && Number(process.env['CLK_TCK'])) || 100;
type Target = 'switchboard' | 'ws' | 'socketio';

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

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A ~2 KB JSON document: 18 rows of a dashboard, values varying per publication. */
function payload(n: number): Record<string, unknown> {
  const rows = Array.from({ length: 18 }, (_, i) => ({
    id: `row-${i}`,
    name: `Service ${String.fromCharCode(65 + i)} ${['eu-west', 'us-east', 'ap-south'][i % 3]}`,
    status: ['ok', 'degraded', 'down'][(n + i) % 7 === 0 ? 1 : 0],
    latencyMs: Math.round(((n * 31 + i * 17) % 997) / 7),
    requests: 10_000 + ((n * 7919 + i * 104_729) % 50_000),
    errorRate: (((n + i) * 13) % 100) / 1000,
  }));
  return { n, kind: 'dashboard', updatedAt: 1_700_000_000_000 + n * 10, rows };
}

async function startServer(target: Target): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(HERE, 'servers', `${target}.mjs`), {
    env: { ...process.env, BENCH_SECRET: secret, BENCH_DEFLATE: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 30 s')), 30_000);
    child.on('message', (m: { type: string; port?: number }) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m.port as number);
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  return { child, port };
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.send({ type: 'stop' });
  const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(hard);
}

/** One subscriber or publisher of a target: how it subscribes, publishes and reads. */
interface Peer {
  subscribed: Promise<void>;
  /** Whether the connection negotiated permessage-deflate. */
  deflate(): boolean;
  close(): void;
}

type OnData = (data: { n: number }) => void;

function openWs(
  url: string,
  first: string[],
  isSubscribed: (msg: Record<string, unknown>) => boolean,
  onData: OnData,
  pick: (msg: Record<string, unknown>) => unknown,
): Peer {
  const ws = new WebSocket(url);
  let done: () => void;
  const subscribed = new Promise<void>((r) => {
    done = r;
  });
  ws.on('open', () => ws.send(first.join('\n')));
  ws.on('message', (raw: Buffer) => {
    for (const line of raw.toString('utf8').split('\n')) {
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (isSubscribed(msg)) done();
      const data = pick(msg);
      if (data !== undefined) onData(data as { n: number });
    }
  });
  ws.on('error', () => {});
  return {
    subscribed,
    deflate: () => ws.extensions.includes('permessage-deflate'),
    close: () => ws.terminate(),
  };
}

async function peer(target: Target, port: number, user: string, onData: OnData): Promise<Peer> {
  if (target === 'socketio') {
    const token = await mintToken(secret, { sub: user, tenant: 'bench', caps: {} });
    const socket: Socket = ioClient(`http://127.0.0.1:${port}`, { transports: ['websocket'], auth: { token }, reconnection: false });
    socket.on('pub', (data: { n: number }) => onData(data));
    const subscribed = new Promise<void>((resolve) => socket.on('connect', () => socket.emit('join', CHANNEL, () => resolve())));
    const engineWs = () => (socket.io.engine as unknown as { transport: { ws?: WebSocket } }).transport.ws;
    return {
      subscribed,
      deflate: () => engineWs()?.extensions.includes('permessage-deflate') ?? false,
      close: () => socket.disconnect(),
    };
  }
  if (target === 'ws') {
    return openWs(
      `ws://127.0.0.1:${port}`,
      [JSON.stringify({ type: 'sub', channel: CHANNEL })],
      (m) => m['type'] === 'subok',
      onData,
      (m) => (m['type'] === 'pub' ? m['data'] : undefined),
    );
  }
  const token = await mintToken(secret, { sub: user, tenant: 'bench', caps: { 'project:*': ['subscribe', 'publish'] } });
  return openWs(
    `ws://127.0.0.1:${port}/ws`,
    [JSON.stringify({ id: 1, method: 'connect', params: { token } }), JSON.stringify({ id: 2, method: 'subscribe', params: { channel: CHANNEL } })],
    (m) => m['id'] === 2,
    onData,
    (m) => (m['push'] === 'pub' ? m['data'] : undefined),
  );
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
  rate: number;
  publications: number;
  deliveries: number;
  expected: number;
  negotiated: number;
  payloadBytes: number;
  cpuMicrosPerDelivery: number;
  bytesPerDelivery: number;
}

async function run(target: Target, round: number): Promise<Row> {
  const { child, port } = await startServer(target);
  const pid = child.pid as number;
  const subs: Peer[] = [];
  const total = RATE * DURATION;
  const expectedText = Array.from({ length: total }, (_, n) => JSON.stringify(payload(n)));
  let deliveries = 0;
  let intact = true;
  try {
    for (let at = 0; at < SUBSCRIBERS; at += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, SUBSCRIBERS - at) }, (_, k) =>
          peer(target, port, `u${at + k}`, (data) => {
            deliveries++;
            if (JSON.stringify(data) !== expectedText[data.n]) intact = false;
          }),
        ),
      );
      subs.push(...batch);
      await Promise.race([
        Promise.all(batch.map((s) => s.subscribed)),
        new Promise((_, reject) => setTimeout(() => reject(new Error('subscribe timed out')), 30_000)),
      ]);
    }
    const negotiated = subs.filter((s) => s.deflate()).length;
    const pub = await publisher(target, port);
    const cpu0 = cpuMicros(pid);
    const bytes0 = written(pid);
    for (let n = 0; n < total; n++) {
      pub.send(payload(n));
      if ((n + 1) % Math.max(1, RATE / 100) === 0) await new Promise((r) => setTimeout(r, 10));
    }
    await until(() => deliveries >= total * SUBSCRIBERS, 120_000, `${target}: every delivery`);
    const cpu = cpuMicros(pid) - cpu0;
    const bytes = written(pid) - bytes0;
    pub.close();
    if (!intact) throw new Error(`${target}: a subscriber received a payload that differs from the one published`);
    return {
      target,
      round,
      subscribers: SUBSCRIBERS,
      rate: RATE,
      publications: total,
      deliveries,
      expected: total * SUBSCRIBERS,
      negotiated,
      payloadBytes: Buffer.byteLength(expectedText[0] as string),
      cpuMicrosPerDelivery: cpu / deliveries,
      bytesPerDelivery: bytes / deliveries,
    };
  } finally {
    for (const s of subs) s.close();
    await stopServer(child);
  }
}

const rows: Row[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const target of ['switchboard', 'ws', 'socketio'] as const) {
    process.stderr.write(`round ${round}: ${target} …\n`);
    const row = await run(target, round).catch((err: Error) => {
      process.stderr.write(`  ${target} failed: ${err.message}\n`);
      return null;
    });
    if (row === null) continue;
    rows.push(row);
    process.stderr.write(
      `  ${row.deliveries}/${row.expected} delivered, deflate negotiated by ${row.negotiated}/${row.subscribers}, ${row.cpuMicrosPerDelivery.toFixed(2)} µs CPU and ${row.bytesPerDelivery.toFixed(0)} bytes written per delivery (payload ${row.payloadBytes} bytes of JSON)\n`,
    );
  }
}
writeFileSync(join(HERE, 'results', 'compression.json'), `${JSON.stringify({ at: new Date().toISOString(), node: process.version, rows }, null, 2)}\n`);
