/**
 * Notifications benchmark: N notifications to U connected users, on SQLite and on
 * PostgreSQL. The server runs in its own process; this process holds the U WebSocket
 * clients (each subscribed to its `user:{sub}` channel) and the backend that creates the
 * notifications over the HTTP API with a bounded number of requests in flight.
 *
 * Reported per store and batch size (recipients per POST): notifications created and
 * delivered per second (N / time from the first request to the last receipt) and the
 * latency from sending the create request to the receipt on the device (p50/p95/p99/max).
 * Clocks: CLOCK_MONOTONIC (process.hrtime), shared by both processes.
 *
 *   npm run build && npx tsx bench/notifications.ts [--store sqlite|postgres|both]
 *     [--users 1000] [--notifications 10000] [--batch 1,10] [--concurrency 16]
 *     [--postgres postgres://postgres@127.0.0.1:5432/test]
 *   SB_BENCH_PROFILE=<dir> writes a CPU profile of the server process there.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { nowUs } from '@switchboard/loadgen';
import pg from 'pg';
import WebSocket from 'ws';

type Store = 'sqlite' | 'postgres';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

// ---- server process ------------------------------------------------------------------

async function serve(dataDir: string, database: string): Promise<void> {
  const { Switchboard } = await import('@switchboard/server');
  const server = await Switchboard.create({
    config: {
      dataDir,
      database,
      logLevel: 'warn',
      host: '127.0.0.1',
      port: 0,
      limits: { newConnectionsPerIpPerSecond: 100_000, connectionsPerTenant: 1_000_000, httpBodyBytes: 4 * 1024 * 1024 },
      notifications: { maxRecipients: 10_000 },
    },
  });
  const { port } = await server.listen();
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

// ---- load side -----------------------------------------------------------------------

interface Running {
  port: number;
  stop(): Promise<void>;
}

async function startServer(dataDir: string, database: string): Promise<Running> {
  const profile = process.env['SB_BENCH_PROFILE'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['SB_BENCH_PROFILE']}`] : [];
  const child = spawn(process.execPath, [...profile, ...process.execArgv, import.meta.filename, '--serve', dataDir, database], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const { port } = JSON.parse(line) as { port: number };
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

interface Result {
  store: Store;
  batch: number;
  created: number;
  delivered: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

async function connectUsers(port: number, secret: string, users: number, onNotification: (sentUs: number) => void): Promise<WebSocket[]> {
  const { mintToken } = await import('@switchboard/server');
  const sockets: WebSocket[] = [];
  const batch = 100;
  for (let start = 0; start < users; start += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, users - start) }, async (_, k) => {
        const user = `u${start + k}`;
        const token = await mintToken(secret, { sub: user, tenant: 'bench', ttlSeconds: 3600 });
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
        sockets.push(ws);
        await new Promise<void>((resolve, reject) => {
          ws.once('error', reject);
          ws.once('open', () =>
            ws.send(
              `${JSON.stringify({ id: 1, method: 'connect', params: { token } })}\n${JSON.stringify({ id: 2, method: 'subscribe', params: { channel: `user:${user}` } })}`,
            ),
          );
          ws.on('message', (raw: Buffer) => {
            for (const text of raw.toString().split('\n')) {
              if (!text) continue;
              const f = JSON.parse(text) as { id?: number; error?: unknown; push?: string; data?: { kind?: string; notification?: { data?: { t?: number } } } };
              if (f.id === 2) {
                if (f.error) reject(new Error(`subscribe failed: ${JSON.stringify(f.error)}`));
                else resolve();
              } else if (f.push === 'ping') {
                ws.send('{"method":"pong"}');
              } else if (f.push === 'pub' && f.data?.kind === 'notification') {
                onNotification(f.data.notification?.data?.t ?? NaN);
              }
            }
          });
        });
      }),
    );
  }
  return sockets;
}

async function run(store: Store, database: string, users: number, total: number, batch: number, concurrency: number): Promise<Result> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-bench-notif-'));
  const server = await startServer(dataDir, database);
  try {
    const secret = readFileSync(join(dataDir, 'secret'), 'utf8').trim();
    const adminKey = readFileSync(join(dataDir, 'admin-api-key'), 'utf8').trim();
    const latencies: number[] = [];
    let lastReceipt = 0;
    let done: () => void = () => {};
    const all = new Promise<void>((resolve) => {
      done = resolve;
    });
    const sockets = await connectUsers(server.port, secret, users, (sentUs) => {
      const now = nowUs();
      latencies.push((now - sentUs) / 1000);
      lastReceipt = now;
      if (latencies.length === total) done();
    });

    const requests = Math.ceil(total / batch);
    let next = 0;
    let created = 0;
    const started = nowUs();
    const worker = async () => {
      while (next < requests) {
        const r = next++;
        const recipients = Array.from({ length: Math.min(batch, total - r * batch) }, (_, k) => `u${(r * batch + k) % users}`);
        const body = { users: recipients, type: 'message', title: `bench ${r}`, priority: 'normal', data: { t: nowUs() } };
        const res = await fetch(`http://127.0.0.1:${server.port}/api/v1/notifications`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminKey}`, 'x-switchboard-tenant': 'bench', 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (res.status !== 201) throw new Error(`create failed: ${res.status} ${await res.text()}`);
        created += ((await res.json()) as { count: number }).count;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await Promise.race([all, new Promise((r) => setTimeout(r, 30_000))]);
    for (const ws of sockets) ws.terminate();
    const seconds = (lastReceipt - started) / 1e6;
    latencies.sort((a, b) => a - b);
    return {
      store,
      batch,
      created,
      delivered: latencies.length,
      seconds,
      perSecond: latencies.length / seconds,
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? NaN,
    };
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--serve')) {
    const i = process.argv.indexOf('--serve');
    return serve(process.argv[i + 1] as string, process.argv[i + 2] ?? '');
  }
  const which = arg('store', 'both');
  const stores: Store[] = which === 'both' ? ['sqlite', 'postgres'] : [which as Store];
  const users = Number(arg('users', '1000'));
  const total = Number(arg('notifications', '10000'));
  const batches = arg('batch', '1,10').split(',').map(Number);
  const concurrency = Number(arg('concurrency', '16'));
  const pgUrl = arg('postgres', process.env['SB_BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test');
  process.stdout.write(`notifications benchmark: ${total} notifications to ${users} connected users, ${concurrency} requests in flight\n`);

  const results: Result[] = [];
  for (const store of stores) {
    for (const batch of batches) {
      let database = '';
      let schema = '';
      if (store === 'postgres') {
        schema = `sb_bench_${randomBytes(5).toString('hex')}`;
        const admin = new pg.Client({ connectionString: pgUrl });
        await admin.connect();
        await admin.query(`CREATE SCHEMA ${schema}`);
        await admin.end();
        database = `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
      }
      process.stdout.write(`  ${store}, ${batch} recipient(s) per request ... `);
      try {
        const r = await run(store, database, users, total, batch, concurrency);
        results.push(r);
        process.stdout.write(`${Math.round(r.perSecond)}/s, p99 ${r.p99.toFixed(1)} ms\n`);
      } finally {
        if (schema) {
          const admin = new pg.Client({ connectionString: pgUrl });
          await admin.connect();
          await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await admin.end();
        }
      }
    }
  }
  process.stdout.write(
    '\n| store | recipients / request | created | delivered | seconds | delivered / s | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|---|---|\n',
  );
  for (const r of results) {
    process.stdout.write(
      `| ${r.store} | ${r.batch} | ${r.created} | ${r.delivered} | ${r.seconds.toFixed(2)} | ${Math.round(r.perSecond).toLocaleString('en-US')} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} |\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
