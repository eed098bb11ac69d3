import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './helpers/eventually.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * `switchboard bench` at small scale, through the built CLI (node on the compiled file,
 * as a user runs it). Only consistency is asserted — counts that must match exactly,
 * integrity checks, exit statuses — never timings: the machine is shared and noisy.
 */
const MAIN = join(import.meta.dirname, '..', 'packages', 'server', 'dist', 'cli', 'main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bench(args: string[], onStderr?: (text: string, pid: number) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(stderr, child.pid as number);
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

// biome-ignore lint/suspicious/noExplicitAny: JSON output of the CLI, asserted field by field
type Json = Record<string, any>;

async function benchJson(args: string[]): Promise<Json> {
  const run = await bench([...args, '--json', '--progress', 'none']);
  expect(run.stderr).toBe('');
  expect(run.code, run.stdout).toBe(0);
  const result = JSON.parse(run.stdout) as Json;
  expect(result.ok).toBe(true);
  expect(result.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
  return result;
}

function expectIntact(f: Json): void {
  expect(f.delivery.missed).toBe(0);
  expect(f.delivery.duplicates).toBe(0);
  expect(f.delivery.outOfOrder).toBe(0);
}

describe('switchboard bench', () => {
  it('connect: opens every connection and reports rate and RSS per idle connection', async () => {
    const r = await benchJson(['connect', '--connections', '30', '--hold', '0.5']);
    expect(r.scenario).toBe('connect');
    expect(r.figures.connect).toMatchObject({ requested: 30, ok: 30, failed: 0, successPct: 100 });
    expect(r.figures.connect.latency.count).toBe(30);
    expect(r.figures.connect.openAtEnd).toBe(30);
    expect(typeof r.figures.server.rssPerConnection).toBe('number');
    expect(r.server.spawned).toBe(true);
    expect(r.generator.sourceAddresses).toBe(8);
  }, 60_000);

  it('fanout: every subscriber receives every accepted publication, in order', async () => {
    const r = await benchJson(['fanout', '--subscribers', '20', '--rate', '20', '--duration', '1', '--warmup', '0.2']);
    const f = r.figures;
    expect(f.publish.acked).toBeGreaterThan(0);
    expect(f.publish.failed).toBe(0);
    expect(f.delivery.expected).toBe(20 * f.publish.acked);
    expect(f.delivery.delivered).toBe(20 * f.publish.acked);
    expect(f.delivery.perConnection).toEqual({ min: f.publish.acked, max: f.publish.acked });
    expect(f.delivery.latency.count).toBe(f.delivery.delivered);
    expectIntact(f);
    expect(f.server.cpuUsPerDelivery).toBeGreaterThan(0);
  }, 60_000);

  it("many-channels: each channel's publications reach its own subscribers only", async () => {
    const r = await benchJson(['many-channels', '--channels', '4', '--subscribers', '5', '--rate', '40', '--duration', '1', '--warmup', '0']);
    const f = r.figures;
    expect(f.channels).toBe(4);
    expect(f.delivery.delivered).toBe(5 * f.publish.acked);
    expectIntact(f);
  }, 60_000);

  it('presence-churn: observers see every join, update and leave', async () => {
    const r = await benchJson(['presence-churn', '--observers', '5', '--members', '6', '--rate', '30', '--duration', '1']);
    const f = r.figures;
    expect(f.operations.acked).toBeGreaterThan(0);
    expect(f.operations.failed).toBe(0);
    expect(f.events.seen).toBe(5 * f.operations.acked);
    expect(f.events.latency.count).toBeGreaterThan(0);
  }, 60_000);

  it('reconnect-storm: every client recovers with nothing missed and nothing twice', async () => {
    const r = await benchJson(['reconnect-storm', '--clients', '30', '--rate', '20', '--before', '0.5', '--after', '0.5']);
    const f = r.figures;
    expect(f.storm).toMatchObject({ dropped: 30, reconnected: 30, recovered: 30, notRecovered: 0, failed: 0 });
    expect(f.publish.contiguous).toBe(true);
    expect(f.delivery.delivered).toBe(30 * f.publish.acked);
    expectIntact(f);
    expect(f.storm.timeToFullRecoveryMs).toBeGreaterThan(0);
  }, 60_000);

  it('notifications: every notification created over HTTP is pushed to its user once', async () => {
    const r = await benchJson(['notifications', '--users', '10', '--notifications', '40', '--batch', '2', '--parallel', '4']);
    const f = r.figures;
    expect(f.requests.failed).toBe(0);
    expect(f.notifications).toMatchObject({ created: 40, pushed: 40 });
    expect(f.delivery.delivered).toBe(40);
    expect(f.delivery.latency.count).toBe(40);
    expectIntact(f);
  }, 60_000);

  it('comments: every reaction change and every comment reaches every watcher, whose last counts equal the database', async () => {
    const r = await benchJson([
      'comments',
      '--watchers',
      '20',
      '--users',
      '10',
      '--rate',
      '100',
      '--duration',
      '1',
      '--comment-rate',
      '20',
      '--comment-duration',
      '1',
      '--authors',
      '5',
    ]);
    const f = r.figures;
    expect(r.server.storage).toBe('sqlite');
    expect(f.connect).toMatchObject({ requested: 20, ok: 20, failed: 0 });
    expect(f.reactions.failed).toBe(0);
    expect(f.reactions.acked).toBeGreaterThan(0);
    expect(f.reactions).toMatchObject({ wrongAnswers: 0, unchangedAnswers: 0, neverEverywhere: 0, stalePushes: 0, watchersDisagreeing: 0 });
    expect(f.reactions.lastVersion).toBe(f.reactions.acked);
    expect(f.reactions.everyWatcherLatency.count).toBe(f.reactions.acked);
    expect(f.comments).toMatchObject({ acked: 20, failed: 0, delivered: 20 * 20, duplicates: 0, seqContiguous: true });
    expect(f.comments.latency.count).toBe(20 * 20);
  }, 60_000);

  it('locks: one holder at a time with rising fencing tokens, and a killed holder’s key passes to its waiter', async () => {
    const r = await benchJson(['locks', '--clients', '5', '--duration', '0.5', '--contenders', '20', '--bursts', '3', '--cycles', '100', '--drops', '2']);
    const f = r.figures;
    expect(f.throughput.acquired).toBeGreaterThan(0);
    expect(f.throughput.failed).toBe(0);
    expect(f.bursts).toMatchObject({ rounds: 3, oneWinner: 3, wrongHolder: 0, otherErrors: 0 });
    expect(f.cycles.grants).toBeGreaterThanOrEqual(100);
    expect(f.contention).toMatchObject({ doubleHolders: 0, tokenViolations: 0 });
    expect(f.drops.releaseTime.count).toBe(2);
    expect(f.drops.notGranted).toBe(0);
  }, 90_000);

  it('webhooks: every event reaches the receiver once, one per request, batched, through a receiver failing at random, and after an outage', async () => {
    const r = await benchJson([
      'webhooks',
      '--events',
      '200',
      '--warmup',
      '50',
      '--failing-events',
      '100',
      '--batch-window',
      '50ms',
      '--batch-size',
      '40',
      '--outage',
      '2s',
      '--outage-rate',
      '50',
      '--recipients',
      '5',
      '--forged',
      '0',
    ]);
    const f = r.figures;
    expect(f.single).toMatchObject({ created: 200, delivered: 200, requests: 200, duplicates: 0, resentAfterOk: 0, badSignatures: 0 });
    expect(f.batched).toMatchObject({ created: 200, delivered: 200, duplicates: 0, resentAfterOk: 0, badSignatures: 0 });
    // Batched: at most 40 events per request, so at least 5 requests, and far fewer than 200.
    expect(f.batched.requests).toBeGreaterThanOrEqual(5);
    expect(f.batched.requests).toBeLessThan(200);
    // From a backlog: nothing answered 2xx while the 200 were made (a request may or may not come
    // meanwhile: the 200 can be made within one batch window), then each delivered once, batched.
    expect(f.backlog).toMatchObject({ created: 200, delivered: 200, duplicates: 0, resentAfterOk: 0, badSignatures: 0 });
    expect(f.backlog.refusedRequests).toBeGreaterThanOrEqual(0);
    expect(f.backlog.requests).toBeLessThan(200);
    expect(f.backlog.firstOkSeconds).toBeGreaterThanOrEqual(0);
    expect(f.backlog.perSecond).toBeGreaterThan(0);
    expect(f.backlog.latency).toBeUndefined();
    expect(f.failing).toMatchObject({ created: 100, delivered: 100, duplicates: 0, resentAfterOk: 0, badSignatures: 0 });
    expect(f.failing.requests).toBeGreaterThan(100);
    expect(f.single.latency.count).toBe(200);
    // The outage: 2 s at 50 events/s (a create request of 5 every 100 ms), every request refused meanwhile, then all delivered once.
    expect(f.outage.created).toBeGreaterThanOrEqual(50);
    expect(f.outage).toMatchObject({ delivered: f.outage.created, duplicates: 0, resentAfterOk: 0, badSignatures: 0 });
    expect(f.outage.refusedRequests).toBeGreaterThan(0);
    expect(f.outage.drainSeconds).toBeGreaterThanOrEqual(0);
    expect(f.outage.firstOkSeconds).toBeGreaterThanOrEqual(0);
    expect(f.outage.perSecondFromFirstOk).toBeGreaterThanOrEqual(f.outage.perSecond);
    expect(r.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
  }, 150_000);

  it('webhooks --forged: every forged token is refused and counted in a bounded number of audit rows, good tokens connect meanwhile', async () => {
    const r = await benchJson([
      'webhooks',
      '--events',
      '10',
      '--recipients',
      '5',
      '--failing-events',
      '0',
      '--outage',
      '0',
      '--forged',
      '150',
      '--forged-concurrency',
      '10',
      '--forged-baseline',
      '200ms',
    ]);
    const f = r.figures.forged;
    // Every refusal is counted (auth.failed rows and the overflow row's share), in rows bounded per minute window.
    expect(f).toMatchObject({ refused: 150, accepted: 0, auditEvents: 150, goodFailed: 0 });
    expect(f.auditRows).toBeGreaterThan(0);
    // 150 different tokens from one address: at most 20 rows per minute window, and the storm may straddle two.
    expect(f.auditRows).toBeLessThanOrEqual(40);
    expect(f.goodBaselinePerSecond).toBeGreaterThan(0);
    expect(r.checks.map((c: { name: string }) => c.name)).toContain('Forged tokens: audit rows bounded');
  }, 360_000);

  it("documents: every editor receives every other editor's update, and a fresh sync and every joiner hold them all", async () => {
    const r = await benchJson(['documents', '--editors', '6', '--rate', '200', '--duration', '2', '--warmup', '0.5', '--joiners', '4']);
    const f = r.figures;
    expect(f.connect).toMatchObject({ requested: 6, ok: 6, failed: 0 });
    // 200/s over 6 editors for 2.5 s: 83 updates each, each received by the 5 others.
    expect(f.updates.sent).toBe(6 * 83);
    expect(f.delivery.expected).toBe(f.updates.sent * 5);
    expect(f.delivery.delivered).toBe(f.delivery.expected);
    expect(f.delivery.latency.count).toBe(f.delivery.measured);
    expect(f.delivery.measured).toBeGreaterThan(0);
    expect(f.connectionsLost).toEqual({});
    expect(f.joiners).toMatchObject({ requested: 4, synced: 4, complete: 4 });
    expect(f.document).toMatchObject({ sent: f.updates.sent, found: f.updates.sent });
    expect(r.checks.map((c: { name: string }) => c.name)).toContain('a fresh client’s document holds every update');
    expect(f.server.cpuUsPerDelivery).toBeGreaterThan(0);
  }, 60_000);

  it('locks on PostgreSQL: the started server uses a fresh schema', async () => {
    const r = await benchJson([
      'locks',
      '--storage',
      'postgres',
      '--clients',
      '3',
      '--duration',
      '0.5',
      '--contenders',
      '10',
      '--bursts',
      '2',
      '--cycles',
      '30',
      '--drops',
      '0',
    ]);
    expect(r.server.storage).toBe('postgres');
    expect(r.figures.contention).toMatchObject({ doubleHolders: 0, tokenViolations: 0 });
    expect(r.figures.bursts.oneWinner).toBe(2);
  }, 60_000);

  it('locks on 3 nodes with Redis: one grant per round and no double holder across nodes, and a killed node’s lock passes to a survivor', async () => {
    const r = await benchJson([
      'locks',
      '--nodes',
      '3',
      '--storage',
      'postgres',
      '--clients',
      '3',
      '--duration',
      '0.5',
      '--contenders',
      '9',
      '--bursts',
      '2',
      '--cycles',
      '30',
      '--drops',
      '1',
    ]);
    expect(r.ok).toBe(true);
    expect(r.server).toMatchObject({ storage: 'postgres', nodes: 3 });
    expect(new Set(r.server.pids).size).toBe(3);
    expect(new Set(r.server.urls).size).toBe(3);
    expect(r.figures.bursts).toMatchObject({ rounds: 2, oneWinner: 2, wrongHolder: 0, otherErrors: 0 });
    expect(r.figures.cycles.grants).toBeGreaterThanOrEqual(30);
    expect(r.figures.contention).toMatchObject({ doubleHolders: 0, tokenViolations: 0 });
    expect(r.figures.drops).toMatchObject({ notGranted: 0 });
    expect(r.figures.nodeDrops).toMatchObject({ killedNode: 2, notGranted: 0, tokenNotAbove: 0 });
    expect(r.figures.nodeDrops.releaseTime.count).toBe(1);
  }, 120_000);

  it('locks --nodes above 1 needs PostgreSQL and servers the bench starts', async () => {
    const sqlite = await bench(['locks', '--nodes', '2']);
    expect(sqlite.code).toBe(2);
    expect(sqlite.stderr).toContain('--storage postgres');
    const url = await bench(['locks', '--nodes', '2', '--url', 'ws://127.0.0.1:1/ws', '--secret', 's']);
    expect(url.code).toBe(2);
    expect(url.stderr).toContain('not with --url');
  });

  it('load-100 passes its ≥ 95% success criterion with every connection successful', async () => {
    const r = await benchJson(['load-100', '--messages', '2', '--interval', '200ms']);
    const f = r.figures;
    expect(f.success).toEqual({ connections: 100, pct: 100 });
    expect(r.checks.find((c: { name: string }) => c.name.startsWith('≥ 95%'))?.ok).toBe(true);
    expect(f.publications).toBe(200);
    expect(f.delivery.delivered).toBe(200 * 10);
    expectIntact(f);
  }, 60_000);

  it('the other named load tests run scaled down, with rooms receiving every message', async () => {
    const [l500, l200, sustained, mixed] = await Promise.all([
      benchJson(['load-500', '--connections', '25', '--room-size', '5', '--messages', '1', '--interval', '100ms']),
      benchJson(['load-200x50', '--connections', '20', '--messages', '5', '--interval', '50ms']),
      benchJson(['load-300-sustained', '--connections', '20', '--duration', '1.5', '--interval', '500ms']),
      benchJson(['load-400-mixed', '--connections', '20', '--duration', '1.5', '--interval', '200ms']),
    ]);
    expect(l500.figures.delivery.delivered).toBe(25 * 5);
    expect(l200.figures.commands.ok).toBe(100);
    expect(l200.figures.delivery.delivered).toBe(100 * 10);
    expect(sustained.figures.publications).toBe(60);
    expect(sustained.figures.success.pct).toBe(100);
    expect(mixed.figures.commands.failed).toBe(0);
    expect(mixed.figures.commands.ok).toBeGreaterThan(0);
    expect(mixed.figures.delivery.delivered).toBe(mixed.figures.delivery.expected);
    for (const r of [l500, l200, sustained, mixed]) expectIntact(r.figures);
  }, 90_000);

  it('refuses bad arguments with status 2 and a message', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /needs a scenario/],
      [['nosuch'], /unknown bench scenario "nosuch"/],
      [['fanout', '--subscribers', '0'], /--subscribers must be a whole number/],
      [['connect', '--duration', '1'], /unknown option --duration/],
      [['connect', '--url', 'ws://127.0.0.1:1/ws'], /--url needs --secret/],
      [['locks', '--storage', 'mysql'], /--storage must be one of sqlite, postgres/],
      [['documents', '--editors', '1'], /--editors must be a whole number from 2 to 999/],
      [['locks', '--url', 'ws://127.0.0.1:1/ws', '--secret', 's', '--storage', 'postgres'], /only go with a server the bench starts/],
    ];
    const runs = await Promise.all(cases.map(([args]) => bench(args)));
    runs.forEach((run, i) => {
      const [args, message] = cases[i] as [string[], RegExp];
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stdout).toBe('');
    });
  }, 30_000);

  it('stops on SIGTERM and leaves none of its processes behind', async () => {
    let children: number[] = [];
    let benchPid = 0;
    const run = await bench(['fanout', '--subscribers', '10', '--rate', '10', '--duration', '60', '--progress', 'lines'], (text, pid) => {
      if (benchPid === 0 && /publishing/.test(text)) {
        benchPid = pid;
        children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
          .trim()
          .split(/\s+/)
          .map(Number);
        process.kill(pid, 'SIGTERM');
      }
    });
    expect(run.code).toBe(143);
    expect(children.length).toBe(2); // the server and one worker
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await eventually(() => !children.some(alive), 5000, 'the bench children to exit');
    expect(children.filter(alive)).toEqual([]);
  }, 60_000);

  describe('against a server started elsewhere (--url)', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer();
    });
    afterAll(async () => {
      await server.close();
    });

    it('publishes over HTTP with the given API key and measures the given pid', async () => {
      const r = await benchJson([
        'fanout',
        '--url',
        server.url,
        '--secret',
        server.server.secret as string,
        '--api-key',
        server.apiKey,
        '--server-pid',
        String(process.pid),
        '--publish-via',
        'http',
        '--subscribers',
        '10',
        '--rate',
        '10',
        '--duration',
        '1',
        '--warmup',
        '0',
      ]);
      expect(r.server.spawned).toBe(false);
      expect(r.params).not.toHaveProperty('secret');
      expect(r.params).not.toHaveProperty('api-key');
      expect(r.figures.publish.via).toBe('http');
      expect(r.figures.delivery.delivered).toBe(10 * r.figures.publish.acked);
      expect(typeof r.figures.server.cpuSeconds).toBe('number');
    }, 60_000);
  });
});
