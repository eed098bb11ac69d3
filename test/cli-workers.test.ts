/**
 * `switchboard serve --workers 2` as real processes: one port and one banner, clients on both
 * workers get every publication once with consecutive offsets from the one in-host engine,
 * a client recovers on whichever worker it reconnects to, and SIGTERM to the primary drains
 * both workers and exits 0, leaving no worker behind (checked by PID); after a kill -9 of the
 * primary, a restart on the same data directory has what was stored before it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from './helpers/eventually.js';
import { RawClient } from './helpers/raw-client.js';

const BIN = join(import.meta.dirname, '..', 'packages', 'server', 'bin', 'switchboard.js');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('switchboard serve --workers 2', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-workers-'));
  let primary: ChildProcess | null = null;
  let workerPids: number[] = [];
  const clients: RawClient[] = [];

  afterAll(() => {
    for (const c of clients) c.terminate();
    // Whatever the test left running, by PID.
    for (const pid of [primary?.pid, ...workerPids]) if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shares one port and one engine: consecutive offsets on both workers, recovery across them, SIGTERM drains all and exits 0', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--workers', '2', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--log-level', 'silent'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    primary = child;
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await eventually(() => /Workers: .*\n/.test(out) || child.exitCode !== null, 30_000, 'the workers line');
    const workersLine = /Workers: +2 \(pids ([\d, ]+);/.exec(out) as RegExpExecArray;
    workerPids = (workersLine[1] as string).split(', ').map(Number);
    expect(workerPids).toHaveLength(2);
    expect(out.match(/listening on port/g)).toHaveLength(1);
    expect(out).toContain('engine in-host');
    const port = Number((/listening on port (\d+)/.exec(out) as RegExpExecArray)[1]);
    const token = (/Token \(tenant demo[^)]*\): (\S+)/.exec(out) as RegExpExecArray)[1] as string;
    const url = `ws://127.0.0.1:${port}/ws`;

    // Connections are spread over the workers; connect until both have some (bounded).
    const byNode = new Map<string, RawClient[]>();
    for (let i = 0; i < 12 && (byNode.size < 2 || clients.length < 4); i++) {
      const c = await RawClient.connect(url, token);
      clients.push(c);
      const node = c.info['node'] as string;
      byNode.set(node, [...(byNode.get(node) ?? []), c]);
    }
    expect(byNode.size).toBe(2);
    const ch = 'project:across';
    const first = await Promise.all(clients.map((c) => c.call('subscribe', { channel: ch })));
    const epoch = first[0]?.result?.['epoch'] as string;
    expect(new Set(first.map((r) => r.result?.['epoch']))).toEqual(new Set([epoch]));
    // Publishers on both workers.
    const [onA, onB] = [...byNode.values()].map((list) => list[0] as RawClient);
    for (let i = 0; i < 6; i++) await (i % 2 === 0 ? onA : onB)?.call('publish', { channel: ch, data: { i } });
    const offsetsOf = (c: RawClient) => c.pushes('pub', ch).map((f) => f['offset'] as number);
    for (const c of clients) await c.until(() => offsetsOf(c).length === 6, 5000, 'six publications');
    for (const c of clients) expect(offsetsOf(c)).toEqual([1, 2, 3, 4, 5, 6]);

    // A reader leaves, publications go on, it comes back (on either worker) and recovers exactly what it missed.
    const reader = clients.pop() as RawClient;
    reader.terminate();
    for (let i = 6; i < 10; i++) await onA?.call('publish', { channel: ch, data: { i } });
    const again = await RawClient.connect(url, token);
    clients.push(again);
    const reply = await again.call('subscribe', { channel: ch, recover: { offset: 6, epoch } });
    expect(reply.result).toMatchObject({ recovered: true, epoch });
    expect((reply.result?.['publications'] as Array<{ offset: number }>).map((p) => p.offset)).toEqual([7, 8, 9, 10]);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of workerPids) expect(alive(pid)).toBe(false);
  });

  /** `serve --workers 2` on the suite's data directory: its port, the banner's token and admin key. */
  async function start(): Promise<{ child: ChildProcess; port: number; token: string; apiKey: string; out: () => string }> {
    const child = spawn(process.execPath, [BIN, 'serve', '--workers', '2', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--log-level', 'silent'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    primary = child;
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    await eventually(() => /Workers: .*\n/.test(out) || child.exitCode !== null, 30_000, 'the workers line');
    workerPids = ((/Workers: +2 \(pids ([\d, ]+);/.exec(out) as RegExpExecArray)[1] as string).split(', ').map(Number);
    const port = Number((/listening on port (\d+)/.exec(out) as RegExpExecArray)[1]);
    const token = (/Token \(tenant demo[^)]*\): (\S+)/.exec(out) as RegExpExecArray)[1] as string;
    const apiKey = (/Admin API key: (\S+)/.exec(out) as RegExpExecArray)[1] as string;
    return { child, port, token, apiKey, out: () => out };
  }

  const notifications = (port: number, apiKey: string, init?: RequestInit) =>
    fetch(`http://127.0.0.1:${port}/api/v1/notifications${init ? '' : '?user=alice'}`, {
      ...init,
      headers: { authorization: `Bearer ${apiKey}`, 'x-switchboard-tenant': 'demo', 'content-type': 'application/json' },
    });

  it('restarts a worker killed with SIGKILL; SIGKILL of the primary leaves no worker running, and a restart on its data directory has what it stored', async () => {
    const { child, port, token, apiKey, out } = await start();
    // Durable data written through the workers (SQLite, one writer): a notification answered 201.
    const created = await notifications(port, apiKey, { method: 'POST', body: JSON.stringify({ user: 'alice', type: 'message', title: 'before the kill' }) });
    expect(created.status).toBe(201);
    const [victim, other] = workerPids as [number, number];
    process.kill(victim, 'SIGKILL');
    await eventually(() => /worker (\d+) started in its place\n/.test(out()), 15_000, 'a worker started in place of the killed one');
    const replacement = Number((/worker (\d+) started in its place/.exec(out()) as RegExpExecArray)[1]);
    workerPids = [other, replacement];
    expect(alive(victim)).toBe(false);
    expect(alive(replacement)).toBe(true);
    // The port still serves.
    const c = await RawClient.connect(`ws://127.0.0.1:${port}/ws`, token);
    clients.push(c);
    expect((await c.call('subscribe', { channel: 'project:after' })).result).toMatchObject({ offset: 0 });

    child.kill('SIGKILL');
    await eventually(() => !alive(other) && !alive(replacement), 15_000, 'the workers to exit after their primary');

    // Started again on the same data directory: what was stored before the kill is there.
    const again = await start();
    const listed = await notifications(again.port, again.apiKey);
    expect(listed.status).toBe(200);
    const page = (await listed.json()) as { notifications: Array<{ title: string }> };
    expect(page.notifications.map((n) => n.title)).toContain('before the kill');
    again.child.kill('SIGTERM');
    await eventually(() => again.child.exitCode !== null, 15_000, 'the restarted server to exit');
  });
});
