/**
 * Churn soak: connect / subscribe / enter presence / publish / drop at a steady rate,
 * then check that everything returns to its baseline: connections, subscriptions,
 * channels, timer-wheel entries and presence to zero; heap, RSS and open handles
 * within 10% (the process is given a GC and a moment to settle).
 *
 * Short variant in the test run (test/soak.test.ts). The long run (30 minutes):
 *   node --expose-gc --import tsx test/long/soak.ts --minutes 30 --rate 50
 */
import type { Switchboard } from '@switchboard/server';
import WebSocket from 'ws';
import { eventually } from '../helpers/eventually.js';

export interface SoakFigures {
  connections: number;
  subscriptions: number;
  channels: number;
  timers: number;
  presence: number;
  heapUsed: number;
  rss: number;
  handles: number;
}

export interface SoakResult {
  baseline: SoakFigures;
  peak: SoakFigures;
  end: SoakFigures;
  cycles: number;
  failures: number;
}

export interface SoakOptions {
  server: Switchboard;
  url: string;
  token(sub: string): Promise<string>;
  /** New connections per second. */
  rate: number;
  durationMs: number;
  /** Channels the churn spreads over. */
  channels: number;
  onProgress?(figures: SoakFigures, cycles: number): void;
}

function activeHandles(): number {
  const p = process as unknown as { _getActiveHandles?: () => unknown[] };
  return p._getActiveHandles?.().length ?? 0;
}

export async function figures(server: Switchboard, channels: string[]): Promise<SoakFigures> {
  const node = server.node;
  let subscriptions = 0;
  for (const c of node.clients) subscriptions += c.subs.size;
  let presence = 0;
  for (const ch of channels) presence += (await node.presenceStats(node.resolve('soak', ch))).connections;
  const mem = process.memoryUsage();
  return {
    connections: node.clients.size,
    subscriptions,
    channels: node.hub.channelCount,
    timers: node.wheel.size,
    presence,
    heapUsed: mem.heapUsed,
    rss: mem.rss,
    handles: activeHandles(),
  };
}

/** One client's life: connect, subscribe, enter presence, publish, then drop (cleanly or abruptly). */
async function cycle(o: SoakOptions, n: number, channel: string): Promise<void> {
  const ws = new WebSocket(o.url);
  const closed = new Promise<void>((r) => ws.once('close', () => r()));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const replies = new Map<number, (f: Record<string, unknown>) => void>();
  ws.on('message', (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      const f = JSON.parse(line) as Record<string, unknown>;
      if (f['push'] === 'ping') ws.send('{"method":"pong"}');
      if (typeof f['id'] === 'number') replies.get(f['id'])?.(f);
    }
  });
  let id = 0;
  const call = (method: string, params: unknown) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const my = ++id;
      replies.set(my, (f) => (f['error'] ? reject(new Error(JSON.stringify(f['error']))) : resolve(f)));
      ws.send(JSON.stringify({ id: my, method, params }));
    });
  await call('connect', { token: await o.token(`u${n % 50}`) });
  await call('subscribe', { channel });
  await call('presence_set', { channel, state: { n } });
  await call('publish', { channel, data: { n } });
  if (n % 2 === 0) ws.close();
  else ws.terminate();
  await closed;
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const channels = Array.from({ length: o.channels }, (_, i) => `project:soak-${i}`);
  const settle = async () => {
    // Closed connections finish their cleanup asynchronously; wait until the node is empty
    // (up to 5 s: past that the figures report what is left).
    await eventually(() => o.server.node.clients.size === 0 && o.server.node.hub.channelCount === 0, 5000, 'the node to empty').catch(() => {});
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) {
      gc();
      gc();
    }
    // A fixed moment: heap, RSS and handle counts have no event that says they have settled.
    await new Promise((r) => setTimeout(r, 100));
  };
  // Warm up once so lazily created structures do not count as growth.
  await Promise.all(channels.map((ch, i) => cycle(o, i, ch)));
  await settle();
  const baseline = await figures(o.server, channels);
  let peak = baseline;
  let cycles = 0;
  let failures = 0;
  const inflight = new Set<Promise<void>>();
  const start = Date.now();
  const interval = 1000 / o.rate;
  let lastReport = start;
  while (Date.now() - start < o.durationMs) {
    const due = start + cycles * interval;
    // Pacing at the configured rate, not waiting for a condition.
    if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()));
    const n = cycles++;
    const p = cycle(o, n, channels[n % channels.length] as string).catch(() => {
      failures++;
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      const f = await figures(o.server, channels);
      if (f.connections > peak.connections) peak = f;
      o.onProgress?.(f, cycles);
    }
  }
  await Promise.all(inflight);
  await settle();
  return { baseline, peak, end: await figures(o.server, channels), cycles, failures };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, rate: { type: 'string', default: '50' } } });
  const { Switchboard: Sb, mintToken } = await import('@switchboard/server');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const server = await Sb.create({
    config: {
      logLevel: 'silent',
      port: 0,
      host: '127.0.0.1',
      dataDir: mkdtempSync(join(tmpdir(), 'sb-soak-')),
      limits: { newConnectionsPerIpPerSecond: 100000, connectionsPerUser: 10000 },
    },
  });
  const { port } = await server.listen();
  const secret = server.secret as string;
  const result = await runSoak({
    server,
    url: `ws://127.0.0.1:${port}/ws`,
    rate: Number(values.rate),
    durationMs: Number(values.minutes) * 60_000,
    channels: 20,
    token: (sub) => mintToken(secret, { sub, tenant: 'soak', caps: { 'project:*': ['subscribe', 'publish', 'presence'] } }),
    onProgress: (f, n) =>
      process.stderr.write(
        `cycles ${n}: connections ${f.connections}, heap ${(f.heapUsed / 1e6).toFixed(1)} MB, rss ${(f.rss / 1e6).toFixed(1)} MB, timers ${f.timers}\n`,
      ),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  await server.close();
  const e = result.end;
  const ok =
    e.connections === 0 &&
    e.subscriptions === 0 &&
    e.channels === 0 &&
    e.timers === 0 &&
    e.presence === 0 &&
    e.heapUsed <= result.baseline.heapUsed * 1.1 &&
    e.handles <= result.baseline.handles * 1.1 + 2;
  process.exit(ok ? 0 : 1);
}
