/**
 * Conflation against plain delivery on the same fan-out: N raw WebSocket subscribers of one
 * progress channel, one publisher updating K keys (`{"id":"k<i>","pct":…}`, round robin) at R
 * publications/s for D seconds; once on a namespace with `conflation: {windowMs: W, key: "id"}`,
 * once on the same namespace without it, each on a fresh server process
 * (bench/servers/switchboard.mjs with BENCH_NAMESPACES).
 *
 *   npx tsx bench/conflation.ts [--subscribers 1000] [--keys 100] [--rate 10000] [--duration 5] [--window 100]
 *
 * Options (each checked, also with --help; an unknown one is refused):
 *   --subscribers N   1000   subscribers on the channel (1 to 2,000)
 *   --keys K          100    distinct keys updated round robin (1 to 1,000)
 *   --rate R          10000  publications per second (1 to 20,000)
 *   --duration S      5      seconds of publishing (1 to 30)
 *   --window W        100    the conflation window, ms (50 to 1,000)
 *   --help                   print this and exit
 *
 * Per scenario and subscriber: frames per second (`pub` or `pubs` pushes), bytes per second
 * (WebSocket payloads), publications received per second, and for a sample of 20 subscribers
 * the staleness of each value received (receipt time minus the publication's `time`, one
 * clock: same machine), as p50 / p99. Complete: every subscriber's position reached the
 * channel's last offset (a conflated subscriber ends with the latest value of every key).
 * Writes bench/results/conflation.json. Bounded: at most 2,000 subscribers, 20,000
 * publications/s for 30 s, every wait has a deadline, and the server process is stopped by
 * its PID at the end, also on failure.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '@switchboard/server';
import WebSocket from 'ws';
import { ArgReader } from './lib/args.js';
import { startServer, stopServer, until } from './lib/server-process.js';

const HERE = dirname(fileURLToPath(import.meta.url));

interface Options {
  subscribers: number;
  keys: number;
  rate: number;
  duration: number;
  window: number;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { subscribers: 1000, keys: 100, rate: 10_000, duration: 5, window: 100 };
  const a = new ArgReader(argv);
  const int = (flag: string, min: number, max: number) => {
    const v = Number(a.value());
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${flag}: an integer from ${min} to ${max}`);
    return v;
  };
  let help = false;
  for (let flag = a.next(); flag !== undefined; flag = a.next()) {
    if (flag === '--subscribers') o.subscribers = int(flag, 1, 2000);
    else if (flag === '--keys') o.keys = int(flag, 1, 1000);
    else if (flag === '--rate') o.rate = int(flag, 1, 20_000);
    else if (flag === '--duration') o.duration = int(flag, 1, 30);
    else if (flag === '--window') o.window = int(flag, 50, 1000);
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
const SAMPLED = 20;
const TICK_MS = 10;
const CHANNEL = 'progress:import';

/** A raw subscriber: counts frames, bytes and publications; keeps its position; a sampled one records staleness. */
class Subscriber {
  frames = 0;
  bytes = 0;
  publications = 0;
  position = 0;
  readonly staleness: number[] = [];
  constructor(
    readonly ws: WebSocket,
    readonly sampled: boolean,
  ) {
    ws.on('message', (data: Buffer) => {
      this.bytes += data.length;
      const now = Date.now();
      for (const line of data.toString().split('\n')) {
        if (!line.startsWith('{"push":"pub')) continue;
        this.frames++;
        const pubs = line.startsWith('{"push":"pubs"');
        const at = pubs ? /"after":\d+,"offset":(\d+)/.exec(line) : /"offset":(\d+)/.exec(line);
        this.position = Math.max(this.position, Number(at?.[1]));
        const times = [...line.matchAll(/"time":(\d+)/g)];
        this.publications += times.length;
        if (this.sampled) for (const t of times) this.staleness.push(now - Number(t[1]));
      }
    });
  }
  reset(): void {
    this.frames = 0;
    this.bytes = 0;
    this.publications = 0;
    this.staleness.length = 0;
  }
}

/** Open a connection and run commands on it: one reply awaited per call, or fire-and-forget sends. */
async function open(
  url: string,
  token: string,
): Promise<{ ws: WebSocket; call(method: string, params: unknown): Promise<void>; send(method: string, params: unknown): void }> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let id = 0;
  const waiting = new Map<number, (error: unknown) => void>();
  ws.on('message', (data: Buffer) => {
    const text = data.toString();
    if (!text.includes('"id":')) return;
    for (const line of text.split('\n')) {
      if (!line.startsWith('{"id":')) continue;
      const f = JSON.parse(line) as { id: number; error?: unknown };
      waiting.get(f.id)?.(f.error);
      waiting.delete(f.id);
    }
  });
  const call = (method: string, params: unknown) =>
    new Promise<void>((resolve, reject) => {
      const n = ++id;
      waiting.set(n, (error) => (error ? reject(new Error(`${method}: ${JSON.stringify(error)}`)) : resolve()));
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  const send = (method: string, params: unknown) => ws.send(JSON.stringify({ id: ++id, method, params }));
  await call('connect', { token });
  return { ws, call, send };
}

type Scenario = 'conflated' | 'plain';

interface Row {
  scenario: Scenario;
  framesPerSecond: number;
  bytesPerSecond: number;
  publicationsPerSecond: number;
  stalenessP50: number;
  stalenessP99: number;
  complete: boolean;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.min(s.length - 1, Math.floor(q * s.length))] as number);
};

async function run(scenario: Scenario): Promise<Row> {
  const progress = { historySize: 1000, ...(scenario === 'conflated' ? { conflation: { windowMs: opts.window, key: 'id' } } : {}) };
  const { child, url } = await startServer(secret, { BENCH_NAMESPACES: JSON.stringify({ progress }) });
  const subscribers: Subscriber[] = [];
  let publisher: Awaited<ReturnType<typeof open>> | null = null;
  try {
    const token = await mintToken(secret, { sub: 'bench', tenant: 'bench', caps: { 'progress:*': ['subscribe', 'publish'] } });
    for (let i = 0; i < opts.subscribers; i++) {
      const peer = await open(url, token);
      await peer.call('subscribe', { channel: CHANNEL });
      subscribers.push(new Subscriber(peer.ws, i < SAMPLED));
    }
    publisher = await open(url, token);
    const pub = publisher;
    let n = 0;
    const publish = () => {
      pub.send('publish', { channel: CHANNEL, data: { id: `k${n % opts.keys}`, pct: n } });
      n++;
    };
    // Warm-up (JIT, buffers), not measured: one window's worth, then every position at its end.
    for (let i = 0; i < opts.keys * 2; i++) publish();
    await until(() => subscribers.every((s) => s.position === n), 30_000, 'the warm-up');
    for (const s of subscribers) s.reset();
    const total = opts.rate * opts.duration;
    const started = performance.now();
    const perTick = opts.rate / (1000 / TICK_MS);
    for (let sent = 0; sent < total; ) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / TICK_MS + 1) * perTick));
      for (; sent < due; sent++) publish();
      await new Promise((r) => setTimeout(r, TICK_MS));
      if (performance.now() - started > opts.duration * 4000) throw new Error('publishing fell far behind');
    }
    const complete = await until(() => subscribers.every((s) => s.position === n), Math.max(20_000, opts.duration * 4000), 'every position at the end').then(
      () => true,
      () => false,
    );
    const elapsed = (performance.now() - started) / 1000;
    const per = (f: (s: Subscriber) => number) => subscribers.reduce((a, s) => a + f(s), 0) / subscribers.length / elapsed;
    const staleness = subscribers.filter((s) => s.sampled).flatMap((s) => s.staleness);
    return {
      scenario,
      framesPerSecond: per((s) => s.frames),
      bytesPerSecond: per((s) => s.bytes),
      publicationsPerSecond: per((s) => s.publications),
      stalenessP50: quantile(staleness, 0.5),
      stalenessP99: quantile(staleness, 0.99),
      complete,
    };
  } finally {
    publisher?.ws.terminate();
    for (const s of subscribers) s.ws.terminate();
    await stopServer(child);
  }
}

const rows: Row[] = [];
for (const scenario of ['conflated', 'plain'] as const) {
  process.stderr.write(`${scenario}: ${opts.subscribers} subscribers, ${opts.keys} keys, ${opts.rate}/s for ${opts.duration} s, window ${opts.window} ms…\n`);
  rows.push(await run(scenario));
}
const [c, p] = rows as [Row, Row];
const lines = [
  `${opts.subscribers} subscribers, ${opts.keys} keys, ${opts.rate} publications/s for ${opts.duration} s; conflation window ${opts.window} ms`,
  '| scenario | frames/s per subscriber | bytes/s per subscriber | publications/s per subscriber | staleness p50 / p99 ms | complete |',
  '|---|---:|---:|---:|---:|---|',
  ...rows.map(
    (r) =>
      `| ${r.scenario} | ${r.framesPerSecond.toFixed(1)} | ${r.bytesPerSecond.toFixed(0)} | ${r.publicationsPerSecond.toFixed(0)} | ${r.stalenessP50.toFixed(0)} / ${r.stalenessP99.toFixed(0)} | ${r.complete ? 'yes' : 'NO'} |`,
  ),
  `conflation: ×${(p.framesPerSecond / c.framesPerSecond).toFixed(1)} fewer frames, ×${(p.bytesPerSecond / c.bytesPerSecond).toFixed(1)} fewer bytes (target ≥ 20); p99 staleness ${c.stalenessP99.toFixed(0)} ms (target ≤ window + 50 = ${opts.window + 50})`,
];
process.stdout.write(`${lines.join('\n')}\n`);
const file = join(HERE, 'results', 'conflation.json');
writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, options: opts, rows }, null, 2)}\n`);
process.stderr.write(`wrote ${file}\n`);
process.exit(0);
