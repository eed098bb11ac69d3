/**
 * One host, one view: with `serve --workers 2` (real processes) whichever worker answers,
 * `/metrics` shows every worker's series and the primary's under a `worker` label, `/readyz`
 * is ready only while every worker answers ready, and a configured node id gets each worker's
 * index as a suffix.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from './helpers/eventually.js';
import { RawClient } from './helpers/raw-client.js';
import { getFresh, startWorkersServer, type WorkersServer } from './helpers/workers-server.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function cluster(args: string[] = []): Promise<WorkersServer> {
  const s = await startWorkersServer({ workers: 2, args });
  cleanups.push(() => s.kill());
  return s;
}

/** The value of `name{…worker="w"…}` in an exposition, per worker. */
function series(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}\\{(?:[^}]*,)?worker="([^"]+)"[^}]*\\} (\\S+)$`).exec(line);
    if (m) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

describe('serve --workers 2: one /metrics, one /readyz, node ids', () => {
  it("shows every worker's series with a worker label, whichever worker answers", async () => {
    const s = await cluster();
    const clients: RawClient[] = [];
    cleanups.push(() => {
      for (const c of clients) c.terminate();
    });
    const nodes = new Set<string>();
    for (let i = 0; i < 12 && (nodes.size < 2 || clients.length < 3); i++) {
      const c = await RawClient.connect(s.url, await s.token({ sub: `u${i}` }));
      clients.push(c);
      nodes.add(c.info['node'] as string);
    }
    expect(nodes.size).toBe(2);
    // Several scrapes on new connections: both workers answer some of them, each with the whole host.
    for (let i = 0; i < 6; i++) {
      const res = await getFresh(`${s.httpUrl}/metrics`);
      expect(res?.status).toBe(200);
      const text = res?.body ?? '';
      const connections = series(text, 'switchboard_connections');
      expect([...connections.keys()].sort()).toEqual(['0', '1']);
      expect([...connections.values()].reduce((a, b) => a + b, 0)).toBe(clients.length);
      expect(series(text, 'switchboard_process_cpu_seconds_total').has('primary')).toBe(true);
      expect(series(text, 'switchboard_workers').get('primary')).toBe(2);
      // Histograms keep their buckets per worker (every client above sent a connect command).
      const connects = [...text.matchAll(/^switchboard_command_duration_seconds_count\{method="connect",worker="(\d)"\} (\d+)$/gm)];
      expect(connects.map((m) => m[1]).sort()).toEqual(['0', '1']);
      expect(connects.reduce((sum, m) => sum + Number(m[2]), 0)).toBe(clients.length);
    }
  });

  it('is ready only while every worker answers: a stopped worker (SIGSTOP) makes /readyz 503 from the other, SIGCONT makes it ready again', async () => {
    const s = await cluster();
    const ok = await getFresh(`${s.httpUrl}/readyz`);
    expect(ok?.status).toBe(200);
    expect(JSON.parse(ok?.body ?? '{}').checks).toEqual({ host: 'ok', 'worker 0': 'ok', 'worker 1': 'ok' });

    const victim = s.workerPids[1] as number;
    process.kill(victim, 'SIGSTOP');
    cleanups.push(() => {
      try {
        process.kill(victim, 'SIGCONT');
      } catch {}
    });
    // Requests handed to the stopped worker get no answer (null); the other one answers 503.
    let refused: { status: number; body: string } | null = null;
    await eventually(
      async () => {
        refused = await getFresh(`${s.httpUrl}/readyz`, 4000);
        return refused?.status === 503;
      },
      30_000,
      'a 503 from the running worker',
    );
    const checks = JSON.parse((refused as { body: string } | null)?.body ?? '{}').checks as Record<string, string>;
    expect(Object.values(checks).filter((v) => v === 'no answer')).toHaveLength(1);
    expect(checks['host']).toBe('ok');

    process.kill(victim, 'SIGCONT');
    await eventually(async () => (await getFresh(`${s.httpUrl}/readyz`, 4000))?.status === 200, 30_000, 'ready again');
  });

  it('gives each worker the configured node id with its index', async () => {
    const s = await cluster(['--node-id', 'edge']);
    const ids = new Set<string>();
    for (let i = 0; i < 20 && ids.size < 2; i++) {
      const res = await getFresh(`${s.httpUrl}/healthz`);
      ids.add(JSON.parse(res?.body ?? '{}').node as string);
    }
    expect([...ids].sort()).toEqual(['edge-0', 'edge-1']);
    expect(s.output()).toMatch(/node edge-0/);
  });
});
