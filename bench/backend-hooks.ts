/**
 * What a backend hook call adds to `connect` and `publish` (a benchmark, not a test): one
 * node in this process, one app backend in a child process (node:http, answering at once),
 * both on 127.0.0.1, and one client at a time over a real WebSocket, so each figure is a
 * round trip with nothing queued in front of it:
 *
 * - connect: the `connect` command's round trip (socket already open) with a JWT (the
 *   backend is not asked) and without a token (the connect hook asks the backend);
 * - publish: one publish acknowledged before the next, to a namespace whose publish hook is
 *   off and to one where it asks the backend.
 *
 *   npm run build && npx tsx bench/backend-hooks.ts [--connects 500] [--publishes 3000]
 *     [--rounds 3] [--max-seconds 120]
 *
 * Rounds alternate the two variants so that a machine shared with other work weighs on both
 * alike; the figures are the percentiles over every round's samples. Only the backend
 * process started here is stopped, by its pid.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { latencySummary } from '@switchboard/loadgen';
import { Switchboard } from '@switchboard/server';
import WebSocket from 'ws';
import { ArgReader } from './lib/args.js';

/** The child: an app backend that allows everything at once. */
function runBackend(): void {
  const identity = JSON.stringify({ result: { user: 'bench', tenant: 'acme', caps: { 'chat:*': ['subscribe', 'publish'], 'hooked:*': ['publish'] } } });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = req.url === '/connect' ? identity : '{"result":{}}';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('disconnect', () => process.exit(0));
}

function parseArgs(argv: string[]) {
  const o = { connects: 500, publishes: 3000, rounds: 3, maxSeconds: 120 };
  const args = new ArgReader(argv);
  for (let flag = args.next(); flag !== undefined; flag = args.next()) {
    if (flag === '--connects') o.connects = args.positive(100_000);
    else if (flag === '--publishes') o.publishes = args.positive(1_000_000);
    else if (flag === '--rounds') o.rounds = args.positive(100);
    else if (flag === '--max-seconds') o.maxSeconds = args.positive(3600);
    else throw new Error(`unknown flag ${flag}`);
  }
  return o;
}

/** A WebSocket speaking the protocol's JSON frames, one command at a time. */
class Wire {
  #id = 0;
  #waiting: ((frame: Record<string, unknown>) => void) | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        const frame = JSON.parse(line) as Record<string, unknown>;
        if (frame['id'] !== undefined) this.#waiting?.(frame);
      }
    });
  }

  static open(url: string): Promise<Wire> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Wire(ws)));
      ws.once('error', reject);
    });
  }

  /** Send a command; resolves with the reply and its round trip in µs. */
  call(method: string, params: unknown): Promise<{ frame: Record<string, unknown>; us: number }> {
    const started = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
      this.#waiting = (frame) => {
        this.#waiting = null;
        if (frame['error']) reject(new Error(`${method}: ${JSON.stringify(frame['error'])}`));
        else resolve({ frame, us: Number(process.hrtime.bigint() - started) / 1000 });
      };
      this.ws.send(JSON.stringify({ id: ++this.#id, method, params }));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const deadline = Date.now() + o.maxSeconds * 1000;
  const backend = fork(fileURLToPath(import.meta.url), ['--backend'], { execArgv: process.execArgv, stdio: 'inherit' });
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-bench-hooks-'));
  let server: Switchboard | null = null;
  try {
    const port = await new Promise<number>((resolve, reject) => {
      backend.once('message', (m) => resolve((m as { port: number }).port));
      backend.once('exit', (code) => reject(new Error(`backend exited with ${code}`)));
    });
    const b = `http://127.0.0.1:${port}`;
    server = await Switchboard.create({
      config: {
        logLevel: 'silent',
        host: '127.0.0.1',
        port: 0,
        dataDir,
        limits: {
          commandsPerSecond: 100_000,
          publishPerSecondPerConnection: 1_000_000,
          eventsPerMinutePerUser: 100_000_000,
          newConnectionsPerIpPerSecond: 100_000,
        },
        namespaces: { chat: {}, hooked: {} },
        backendHooks: { connectUrl: `${b}/connect`, publishUrl: '', namespaces: { hooked: { publishUrl: `${b}/publish` } }, maxConcurrency: 64 },
      },
    });
    const { port: wsPort } = await server.listen();
    const url = `ws://127.0.0.1:${wsPort}/ws`;
    const token = await server.mintToken({
      sub: 'bench',
      tenant: 'acme',
      caps: { 'chat:*': ['subscribe', 'publish'], 'hooked:*': ['publish'] } as never,
      ttlSeconds: 3600,
    });

    const samples = { connectJwt: [] as number[], connectHook: [] as number[], publishPlain: [] as number[], publishHook: [] as number[] };
    const connectOnce = async (params: Record<string, unknown>, into: number[]) => {
      const wire = await Wire.open(url);
      into.push((await wire.call('connect', params)).us);
      await wire.close();
    };
    const publishMany = async (channel: string, into: number[]) => {
      const wire = await Wire.open(url);
      await wire.call('connect', { token });
      // Warm the path (JIT, the backend's keep-alive connections) before measuring.
      for (let i = 0; i < 50; i++) await wire.call('publish', { channel, data: { i } });
      for (let i = 0; i < o.publishes && Date.now() < deadline; i++) into.push((await wire.call('publish', { channel, data: { i, text: 'hello' } })).us);
      await wire.close();
    };

    for (let i = 0; i < 50; i++) await connectOnce({}, []);
    for (let round = 0; round < o.rounds && Date.now() < deadline; round++) {
      for (let i = 0; i < o.connects / 2 && Date.now() < deadline; i++) {
        await connectOnce({ token }, samples.connectJwt);
        await connectOnce({}, samples.connectHook);
      }
      await publishMany('chat:bench', samples.publishPlain);
      await publishMany('hooked:bench', samples.publishHook);
    }

    const row = (name: string, values: number[]) => {
      const s = latencySummary(Float64Array.from(values));
      return { name, n: values.length, p50: s.p50, p99: s.p99 };
    };
    const rows = [
      row('connect, JWT (no hook)', samples.connectJwt),
      row('connect, connect hook', samples.connectHook),
      row('publish, no hook', samples.publishPlain),
      row('publish, publish hook', samples.publishHook),
    ];
    process.stdout.write(`node ${process.version}, ${o.rounds} rounds\n`);
    process.stdout.write('| path | n | p50 ms | p99 ms |\n|---|---|---|---|\n');
    for (const r of rows) process.stdout.write(`| ${r.name} | ${r.n} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} |\n`);
    const [cj, ch, pp, ph] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
    process.stdout.write(
      `added by the hook: connect p50 +${(ch.p50 - cj.p50).toFixed(3)} ms, p99 +${(ch.p99 - cj.p99).toFixed(3)} ms; ` +
        `publish p50 +${(ph.p50 - pp.p50).toFixed(3)} ms, p99 +${(ph.p99 - pp.p99).toFixed(3)} ms\n`,
    );
  } finally {
    await server?.close();
    if (backend.pid !== undefined && backend.exitCode === null) process.kill(backend.pid);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--backend')) runBackend();
else await main();
