/**
 * Audit storm: a connect storm of forged tokens (bad signatures, each a different token, all
 * from 127.0.0.1) against a server with the audit log on, and meanwhile connects with good
 * tokens. Reports the audit rows written for the storm (bounded by audit.rowsPerIpPerMinute
 * per minute window) and the good-token connect rate during the storm next to the rate
 * without it. The server runs in this process (one event loop with the load): read the
 * rates as relative.
 *
 *   npm run build && npx tsx bench/audit-storm.ts [--forged 10000] [--concurrency 50] [--baseline-ms 3000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Switchboard } from '@switchboard/server';
import WebSocket from 'ws';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const FORGED = Number(arg('forged', '10000'));
const CONCURRENCY = Number(arg('concurrency', '50'));
const BASELINE_MS = Number(arg('baseline-ms', '3000'));

/** Open a socket, send connect, resolve with whether it was accepted; the socket is closed. */
function connectOnce(url: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, method: 'connect', params: { token } })));
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString().split('\n')[0] as string) as { id?: number; error?: unknown };
      if (frame.id !== 1) return;
      ws.close();
      resolve(frame.error === undefined);
    });
    ws.on('error', () => resolve(false));
  });
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-audit-storm-'));
  const server = await Switchboard.create({
    config: {
      logLevel: 'silent',
      host: '127.0.0.1',
      port: 0,
      dataDir,
      limits: { newConnectionsPerIpPerSecond: 1_000_000, connectionsPerUser: 1_000_000 },
    },
  });
  const { port } = await server.listen();
  const url = `ws://127.0.0.1:${port}/ws`;
  const good = await server.mintToken({ sub: 'good', tenant: 'acme', caps: { 'chat:*': ['subscribe'] } });
  const [header, payload] = good.split('.');

  let stop = false;
  const goodLoop = async (counter: { ok: number; failed: number }) => {
    while (!stop) (await connectOnce(url, good)) ? counter.ok++ : counter.failed++;
  };
  const measureGood = async (ms: number | null, during?: Promise<void>) => {
    const counter = { ok: 0, failed: 0 };
    stop = false;
    const started = performance.now();
    const loops = Array.from({ length: 4 }, () => goodLoop(counter));
    if (ms !== null) await new Promise((r) => setTimeout(r, ms));
    else await during;
    stop = true;
    await Promise.all(loops);
    return { ...counter, seconds: (performance.now() - started) / 1000 };
  };

  const baseline = await measureGood(BASELINE_MS);
  let next = 0;
  let refused = 0;
  const stormStart = performance.now();
  const storm = Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < FORGED; i = next++) {
        const forged = `${header}.${payload}.${Buffer.from(`forged-${i}-${'x'.repeat(24)}`).toString('base64url')}`;
        if (!(await connectOnce(url, forged))) refused++;
      }
    }),
  ).then(() => undefined);
  const during = await measureGood(null, storm);
  const stormSeconds = (performance.now() - stormStart) / 1000;
  await server.feature<{ flush(): Promise<number> }>('audit').flush();
  const rows = await server.storage.db
    .selectFrom('sb_audit_entries' as never)
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('count' as never).as('events')])
    .executeTakeFirstOrThrow();
  const metrics = await server.node.metrics.registry.getSingleMetricAsString('switchboard_audit_events_dropped_total');
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });

  const rate = (r: { ok: number; seconds: number }) => Math.round(r.ok / r.seconds);
  console.log(
    JSON.stringify(
      {
        forged: FORGED,
        refused,
        stormSeconds: Number(stormSeconds.toFixed(2)),
        forgedPerSecond: Math.round(FORGED / stormSeconds),
        auditRowsWritten: Number(rows.n),
        auditEventsCounted: Number(rows.events),
        handshakesPerSecondDuringStorm: Math.round(FORGED / stormSeconds + during.ok / during.seconds),
        goodConnectsPerSecond: { baseline: rate(baseline), duringStorm: rate(during) },
        goodConnectsFailed: baseline.failed + during.failed,
        dropped: metrics.split('\n').filter((l) => l.startsWith('switchboard_audit_events_dropped_total')),
      },
      null,
      2,
    ),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
