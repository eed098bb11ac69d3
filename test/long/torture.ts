/**
 * Recovery torture: many SDK clients on one channel, each dropped abruptly at random
 * intervals (and, with several nodes, reconnecting to a random node), while publications
 * flow through the HTTP API. Every client must end with every offset exactly once, in
 * order; `recovered: false` is counted and only acceptable where a gap exceeded history.
 *
 * The default test run uses a short variant (test/torture.test.ts). The long run:
 *   npx tsx test/long/torture.ts --clients 200 --publications 10000 --rate 250
 * (add --nodes ws://…,ws://… --http http://… --secret … to torture a running cluster, or
 * --workers N to start `serve --workers N`: every reconnect then lands on any worker).
 */
import { SwitchboardClient } from '@switchboard/client';
import WebSocket from 'ws';
import { eventually } from '../helpers/eventually.js';

export interface TortureOptions {
  /** WebSocket URLs of the nodes; each reconnect picks one at random. */
  urls: string[];
  /** HTTP base URLs of the nodes; each publication goes to one at random. */
  httpUrls: string[];
  apiKey: string;
  tenant: string;
  token(sub: string): Promise<string>;
  clients: number;
  publications: number;
  /** Publications per second. */
  rate: number;
  /** Each client is dropped after a random delay in this range, ms. */
  dropEvery: [number, number];
  channel: string;
  /** Upper bound for the whole run, ms. */
  timeout: number;
  onProgress?(p: { published: number; drops: number }): void;
  /** Called after each publication is sent off (1, 2, …): e.g. to kill a worker mid-run. */
  onPublished?(published: number): void;
}

export interface TortureResult {
  clients: number;
  publications: number;
  delivered: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  recoveredFalse: number;
  recoveredTrue: number;
  drops: number;
  durationMs: number;
  publishFailures: number;
}

interface Tracked {
  client: SwitchboardClient;
  sockets: Set<WebSocket>;
  offsets: number[];
  recoveredFalse: number;
  recoveredTrue: number;
}

export async function runTorture(o: TortureOptions): Promise<TortureResult> {
  const started = Date.now();
  const deadline = started + o.timeout;
  const tracked: Tracked[] = [];
  for (let i = 0; i < o.clients; i++) {
    const sockets = new Set<WebSocket>();
    // A WebSocket that connects to a random node and can be killed from outside.
    class RoamingSocket extends WebSocket {
      constructor(_url: string, protocols?: string | string[]) {
        super(o.urls[Math.floor(Math.random() * o.urls.length)] as string, protocols);
        sockets.add(this);
        this.once('close', () => sockets.delete(this));
      }
    }
    const sub = `t${i}`;
    const client = new SwitchboardClient(o.urls[0] as string, {
      getToken: () => o.token(sub),
      WebSocket: RoamingSocket as never,
      backoff: { minDelay: 20, maxDelay: 300, shutdownJitter: 50 },
    });
    const t: Tracked = { client, sockets, offsets: [], recoveredFalse: 0, recoveredTrue: 0 };
    const timeline: string[] = [];
    if (process.env.TORTURE_DEBUG) {
      for (const ev of ['connecting', 'connected', 'disconnected', 'reconnecting', 'error'] as const)
        client.on(ev as 'connecting', (e: unknown) => timeline.push(`${Date.now() % 100000} ${ev} ${JSON.stringify(e).slice(0, 120)}`));
    }
    const s = client.subscribe<{ seq: number }>(o.channel);
    s.on('publication', (p) => t.offsets.push(p.offset));
    s.on('subscribed', (e) => {
      if (e.wasRecovering && e.recovered === false) {
        t.recoveredFalse++;
        if (process.env.TORTURE_DEBUG) console.log('recovered false', i, JSON.stringify(e), t.offsets.slice(-3), timeline.slice(-12).join('\n'));
      }
      if (e.wasRecovering && e.recovered === true) t.recoveredTrue++;
    });
    tracked.push(t);
    client.connect();
  }
  await until(() => tracked.every((t) => t.client.getSubscription(o.channel)?.state === 'subscribed'), deadline, 'all subscribed');

  let drops = 0;
  let stop = false;
  const dropLoops = tracked.map(async (t) => {
    while (!stop) {
      const [min, max] = o.dropEvery;
      // A random gap between drops is the schedule of the torture, not a wait for a condition.
      await sleep(min + Math.random() * (max - min));
      if (stop) break;
      for (const ws of t.sockets) ws.terminate();
      drops++;
    }
  });

  let publishFailures = 0;
  const interval = 1000 / o.rate;
  let published = 0;
  const publishStart = Date.now();
  const inflight = new Set<Promise<void>>();
  while (published < o.publications && Date.now() < deadline) {
    const due = publishStart + published * interval;
    // Pacing at the configured rate.
    if (Date.now() < due) await sleep(due - Date.now());
    const seq = published++;
    const http = o.httpUrls[Math.floor(Math.random() * o.httpUrls.length)] as string;
    const p = publishWithRetry(http, o, seq).then(
      () => undefined,
      () => {
        publishFailures++;
      },
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    o.onPublished?.(published);
    if (inflight.size > 200) await Promise.race(inflight);
    if (published % 500 === 0) o.onProgress?.({ published, drops });
  }
  await Promise.all(inflight);
  stop = true;
  await Promise.all(dropLoops);
  const expected = o.publications - publishFailures;
  await until(() => tracked.every((t) => t.offsets.length >= expected || t.recoveredFalse > 0), deadline, 'all delivered').catch(() => {});
  for (const t of tracked) t.client.disconnect();

  let delivered = 0;
  let lost = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  for (const t of tracked) {
    const seen = new Set<number>();
    let last = 0;
    for (const off of t.offsets) {
      if (seen.has(off)) duplicated++;
      else delivered++;
      if (off < last) outOfOrder++;
      seen.add(off);
      last = Math.max(last, off);
    }
    for (let off = 1; off <= expected; off++) if (!seen.has(off)) lost++;
  }
  return {
    clients: o.clients,
    publications: expected,
    delivered,
    lost,
    duplicated,
    outOfOrder,
    recoveredFalse: tracked.reduce((n, t) => n + t.recoveredFalse, 0),
    recoveredTrue: tracked.reduce((n, t) => n + t.recoveredTrue, 0),
    drops,
    durationMs: Date.now() - started,
    publishFailures,
  };
}

/** An idempotent publish retried on temporary failures: acknowledged once, delivered once. */
async function publishWithRetry(http: string, o: TortureOptions, seq: number): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const res = await fetch(`${http}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${o.apiKey}`, 'x-switchboard-tenant': o.tenant, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: o.channel, data: { seq }, idempotencyKey: `seq-${seq}` }),
      // A request to a worker killed while it held it may never be answered: give up and retry
      // (the idempotency key keeps it one publication), as a backend with a timeout would.
      signal: AbortSignal.timeout(10_000),
    }).catch(() => null);
    if (res?.ok) return;
    // Backing off before a retry, as a backend would.
    await sleep(50 * (attempt + 1));
  }
  throw new Error(`publish ${seq} failed`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** Wait for `test` until the run's `deadline` (Unix ms). */
function until(test: () => boolean, deadline: number, what: string): Promise<void> {
  return eventually(test, Math.max(0, deadline - Date.now()), `torture: ${what}`);
}

// ---- command line: a long run against a fresh in-process node, or a running cluster ----
if (import.meta.url === `file://${process.argv[1]}`) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '200' },
      publications: { type: 'string', default: '10000' },
      rate: { type: 'string', default: '250' },
      'drop-min': { type: 'string', default: '1000' },
      'drop-max': { type: 'string', default: '10000' },
      nodes: { type: 'string' },
      http: { type: 'string' },
      secret: { type: 'string' },
      'api-key': { type: 'string' },
      workers: { type: 'string', default: '1' },
    },
  });
  const { mintToken } = await import('@switchboard/server');
  let urls: string[];
  let httpUrls: string[];
  let apiKey: string;
  let secret: string;
  let close = async () => {};
  if (values.nodes) {
    urls = values.nodes.split(',');
    httpUrls = (values.http ?? '').split(',');
    apiKey = values['api-key'] as string;
    secret = values.secret as string;
  } else {
    // The server runs in its own process, so the load generator does not share its core.
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { spawn } = await import('node:child_process');
    const { randomBytes } = await import('node:crypto');
    secret = randomBytes(32).toString('base64url');
    const bin = join(import.meta.dirname, '..', '..', 'packages', 'server', 'bin', 'switchboard.js');
    const child = spawn(
      process.execPath,
      [
        bin,
        'serve',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--secret',
        secret,
        '--log-level',
        'warn',
        '--workers',
        values.workers as string,
        '--data',
        mkdtempSync(join(tmpdir(), 'sb-torture-')),
        '--limits.max-recovery',
        '20000',
        '--limits.new-connections-per-ip-per-second',
        '100000',
        '--namespaces',
        JSON.stringify({ project: { historySize: 20000, historyTtl: '10m' } }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on port (\d+)/.exec(out);
        const k = /Admin API key: (\S+)/.exec(out);
        if (m && k) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
    });
    apiKey = (/Admin API key: (\S+)/.exec(out) as RegExpExecArray)[1] as string;
    urls = [`ws://127.0.0.1:${port}/ws`];
    httpUrls = [`http://127.0.0.1:${port}`];
    close = async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    };
  }
  const result = await runTorture({
    urls,
    httpUrls,
    apiKey,
    tenant: 'demo',
    token: (sub) => mintToken(secret, { sub, tenant: 'demo', caps: { 'project:*': ['subscribe'] } }),
    clients: Number(values.clients),
    publications: Number(values.publications),
    rate: Number(values.rate),
    dropEvery: [Number(values['drop-min']), Number(values['drop-max'])],
    channel: `project:torture-${Date.now()}`,
    timeout: 30 * 60_000,
    onProgress: (p) => process.stderr.write(`\rpublished ${p.published}/${values.publications}, drops ${p.drops}   `),
  });
  process.stderr.write('\n');
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  await close();
  process.exit(result.lost === 0 && result.duplicated === 0 && result.outOfOrder === 0 ? 0 : 1);
}
