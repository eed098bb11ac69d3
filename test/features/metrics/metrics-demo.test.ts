import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropPrefix } from '../../cluster/drop-prefix.js';
import { createTestDatabase, type DurableServer, startDurableServer, type TestDatabase } from '../../durable/helpers.js';
import { eventually } from '../../helpers/eventually.js';
import { RawClient } from '../../helpers/raw-client.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';

/**
 * The demo workspace's built-in generator: with the demo on it declares `demo.requests` and
 * `demo.latency_ms` for tenant demo and, while a connection follows one, writes points into
 * them through the feature's ingest;
 * with the demo off nothing runs and the series do not exist; a demo token follows them but
 * ingests nothing; on two nodes of one Redis one node generates; a stopped server leaves no
 * timer behind.
 */

const WAIT = 20_000;
const servers: TestServer[] = [];
const clients: RawClient[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.close();
});

async function server(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(overrides);
  servers.push(s);
  return s;
}

async function get(s: TestServer, path: string, tenant = 'demo'): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${s.httpUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${s.tenantKeys[tenant]}` } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

interface Query {
  count: number[];
  stats: Record<string, Array<number | null>>;
}

/** The last minute of a demo series at 1 s, for one label set. */
async function query(s: TestServer, series: string, stats: string, labels: Record<string, string> = {}, tenant = 'demo') {
  const q = new URLSearchParams({ series, stats, labels: JSON.stringify(labels), from: String(Date.now() - 60_000) });
  return get(s, `/metrics/query?${q}`, tenant);
}

const points = (r: { json: Record<string, unknown> }): number => ((r.json as unknown as Query).count ?? []).reduce((a, b) => a + b, 0);

async function generatorPoints(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^switchboard_metric_points_ingested_total\{transport="generator"\} (\S+)/m.exec(text)?.[1] ?? 0);
}

/** A demo user's connection (a token from the demo route) following `demo.requests` on `s`. */
async function follow(s: { httpUrl: string; url: string }, user = 'ann'): Promise<RawClient> {
  const res = await fetch(`${s.httpUrl}/api/v1/demo/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  expect(res.status).toBe(200);
  const client = await RawClient.connect(s.url, ((await res.json()) as { token: string }).token);
  clients.push(client);
  const sub = await client.call('metrics.subscribe', { series: 'demo.requests', window: '1m', stats: ['rate'] }, WAIT);
  expect(sub.error).toBeUndefined();
  return client;
}

describe('the demo generator', () => {
  it('with the demo on: declares its series for tenant demo at start, writes nothing while nobody follows them, and fills them, per route and for all routes, once someone does', async () => {
    const s = await server();
    const listed = await get(s, '/metrics/series');
    expect(listed.status).toBe(200);
    const series = (listed.json['series'] as Array<{ name: string; source: string; declaration: Record<string, unknown> }>).filter((x) =>
      x.name.startsWith('demo.'),
    );
    expect(series.map((x) => [x.name, x.declaration['kind'], x.declaration['unit'], x.declaration['labels']])).toEqual([
      ['demo.latency_ms', 'distribution', 'ms', ['route']],
      ['demo.requests', 'counter', 'requests', ['route']],
    ]);
    // An idle server writes nothing: four ticks' time and no point.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await generatorPoints(s.httpUrl)).toBe(0);

    await follow(s);
    await eventually(async () => points(await query(s, 'demo.latency_ms', 'count')) > 0, WAIT, 'demo latencies');
    await eventually(async () => points(await query(s, 'demo.requests', 'count', { route: '/login' })) > 0, WAIT, 'demo requests of /login');
    const latency = (await query(s, 'demo.latency_ms', 'count,p50,p95,p99')).json as unknown as Query;
    const filled = latency.count.findIndex((n) => n > 0);
    const p50 = latency.stats['p50']?.[filled] as number;
    const p99 = latency.stats['p99']?.[filled] as number;
    expect(p50).toBeGreaterThan(0);
    expect(p99).toBeGreaterThanOrEqual(p50);
    const rate = (await query(s, 'demo.requests', 'rate')).json as unknown as Query;
    expect(rate.stats['rate']?.some((v) => v !== null && v > 0)).toBe(true);
    expect(await generatorPoints(s.httpUrl)).toBeGreaterThan(0);

    // Tenant demo only: another tenant has neither the series nor points.
    expect((await query(s, 'demo.latency_ms', 'count', {}, 'acme')).json).toMatchObject({ error: { code: 139 } });
  }, 60_000);

  it("a demo token follows the generator's series live, and may not ingest into them", async () => {
    const s = await server();
    const res = await fetch(`${s.httpUrl}/api/v1/demo/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'ann' }),
    });
    const token = ((await res.json()) as { token: string }).token;
    const ann = await RawClient.connect(s.url, token);
    clients.push(ann);
    const sub = await ann.call('metrics.subscribe', { series: 'demo.latency_ms', window: '1m', stats: ['p50', 'p95', 'p99'] }, WAIT);
    expect(sub.error).toBeUndefined();
    await ann.waitFor((f) => JSON.stringify(f).includes('"kind":"update"'), WAIT);
    const rps = await ann.call('metrics.subscribe', { series: 'demo.requests', stats: ['rate'] }, WAIT);
    expect(rps.error).toBeUndefined();
    const push = await ann.call('metrics.push', { points: [{ series: 'demo.requests', value: 1 }] }, WAIT);
    expect(push.error?.code).toBe(103);
    // Only the demo.* series: another series of tenant demo is refused for want of the capability.
    const declared = await fetch(`${s.httpUrl}/api/v1/metrics/series/web.fps`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${s.tenantKeys['demo']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'gauge' }),
    });
    expect(declared.status).toBe(200);
    const other = await ann.call('metrics.subscribe', { series: 'web.fps' }, WAIT);
    expect(other.error?.code).toBe(103);
  }, 60_000);

  it('with the demo off (production mode, console.demo unset): no generator runs and the series do not exist', async () => {
    const s = await server({ development: false, auth: { secret: 's'.repeat(32) } } as never);
    const off = await server({ console: { demo: false } } as never);
    for (const x of [s, off]) {
      const listed = await get(x, '/metrics/series');
      expect((listed.json['series'] as Array<{ name: string }>).filter((v) => v.name.startsWith('demo.'))).toEqual([]);
      expect((await query(x, 'demo.latency_ms', 'count')).json).toMatchObject({ error: { code: 139 } });
      expect(await generatorPoints(x.httpUrl)).toBe(0);
    }
  }, 60_000);
});

describe('the demo generator on two nodes of one Redis', () => {
  const REDIS_URL = 'redis://127.0.0.1:6379';
  const prefix = `sbdemo-${randomBytes(4).toString('hex')}`;
  let db: TestDatabase;
  const nodes: DurableServer[] = [];

  afterAll(async () => {
    for (const n of nodes) await n.close();
    await db?.drop();
    await dropPrefix(REDIS_URL, prefix);
  }, 30_000);

  it('the node whose connection follows generates; with followers on both one node does (the lease holder) and both answer its points; when it stops the other takes over', async () => {
    db = await createTestDatabase('postgres');
    for (const id of ['a', 'b'])
      nodes.push(
        await startDurableServer('postgres', { redis: REDIS_URL, redisPrefix: prefix, nodeId: `demo-${id}`, metrics: { pushInterval: '200ms' } } as never, db),
      );
    const [a, b] = nodes as [DurableServer, DurableServer];
    // Followed on b only: b generates, a (idle) does not seek the lease.
    await follow(b, 'bob');
    await eventually(async () => (await generatorPoints(b.httpUrl)) > 0, WAIT, 'b generating');
    expect(await generatorPoints(a.httpUrl)).toBe(0);
    // Followed on both: still one node generates, the lease holder.
    await follow(a, 'ann');
    const before = await generatorPoints(b.httpUrl);
    await eventually(async () => (await generatorPoints(b.httpUrl)) > before, WAIT, 'b still generating');
    const counts = [await generatorPoints(a.httpUrl), await generatorPoints(b.httpUrl)];
    const leader = b;
    const follower = a;
    expect(counts.filter((n) => n > 0)).toHaveLength(1);
    // The follower answers the leader's points (merged from its announcements).
    await eventually(async () => points(await query(follower, 'demo.latency_ms', 'count')) > 0, WAIT, 'the points on the other node');
    expect(await generatorPoints(follower.httpUrl)).toBe(0);

    await leader.close();
    nodes.splice(nodes.indexOf(leader), 1);
    await eventually(async () => (await generatorPoints(follower.httpUrl)) > 0, WAIT, 'the other node taking over');
  }, 90_000);
});

describe('the demo generator at shutdown', () => {
  it('keeps no timer alive: a server with the demo on, closed after it generated, lets the process exit by itself', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-demo-exit-'));
    // The process never calls process.exit: it ends when nothing holds the event loop.
    const script = `
      import { Switchboard } from '@switchboard/server';
      const s = await Switchboard.create({ config: { logLevel: 'silent', host: '127.0.0.1', port: 0, dataDir: ${JSON.stringify(dataDir)} } });
      const { port } = await s.listen();
      // Someone follows the generated series, so the generator writes (and holds its lease).
      const { SwitchboardClient } = await import('@switchboard/client');
      const { default: WebSocket } = await import('ws');
      const minted = await fetch('http://127.0.0.1:' + port + '/api/v1/demo/token', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ann' }),
      });
      const { token } = await minted.json();
      const client = new SwitchboardClient('ws://127.0.0.1:' + port + '/ws', { getToken: async () => token, WebSocket, transports: ['websocket'] });
      client.connect();
      client.metrics.subscribe({ series: 'demo.requests', stats: ['rate'] });
      for (;;) {
        const text = await (await fetch('http://127.0.0.1:' + port + '/metrics')).text();
        if (/transport="generator"\\} [1-9]/.test(text)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      client.disconnect();
      await s.close();
      process.stdout.write('closed\\n');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '..', '..', '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
    expect(output).toContain('closed');
    expect(code).toBe(0);
  }, 60_000);
});
