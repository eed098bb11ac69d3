/**
 * Audit storm: a connect storm of forged tokens (bad signatures, each a different token, all
 * from 127.0.0.1) against a server with the audit log on, and meanwhile connects with good
 * tokens. Reports the audit rows written for the storm (bounded by audit.rowsPerIpPerMinute
 * per minute window) and the good-token connect rate during the storm next to the rate
 * without it. The server runs in this process (one event loop with the load): read the
 * rates as relative. The storm itself is @switchboard/loadgen's `forgedStorm`, the same one
 * `switchboard bench webhooks --forged` runs against the server it starts.
 *
 *   npm run build && npx tsx bench/audit-storm.ts [--forged 10000] [--concurrency 50] [--baseline-ms 3000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forgedStorm, nowUs } from '@switchboard/loadgen';
import { Switchboard } from '@switchboard/server';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const FORGED = Number(arg('forged', '10000'));
const CONCURRENCY = Number(arg('concurrency', '50'));
const BASELINE_MS = Number(arg('baseline-ms', '3000'));
/** No connect starts after this (the storm and its good loops are bounded in time as in count). */
const MAX_MS = 10 * 60_000;

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

  const r = await forgedStorm({
    url,
    goodToken: good,
    forged: FORGED,
    concurrency: CONCURRENCY,
    goodLoops: 4,
    baselineMs: BASELINE_MS,
    deadlineUs: nowUs() + MAX_MS * 1000,
  });
  await server.feature<{ flush(): Promise<number> }>('audit').flush();
  const rows = await server.storage.db
    .selectFrom('sb_audit_entries' as never)
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('count' as never).as('events')])
    .executeTakeFirstOrThrow();
  const metrics = await server.node.metrics.registry.getSingleMetricAsString('switchboard_audit_events_dropped_total');
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });

  const rate = (g: { ok: number; seconds: number }) => Math.round(g.ok / g.seconds);
  console.log(
    JSON.stringify(
      {
        forged: FORGED,
        refused: r.refused,
        stormSeconds: Number(r.stormSeconds.toFixed(2)),
        forgedPerSecond: Math.round(r.made / r.stormSeconds),
        auditRowsWritten: Number(rows.n),
        auditEventsCounted: Number(rows.events),
        handshakesPerSecondDuringStorm: Math.round(r.made / r.stormSeconds + r.during.ok / r.during.seconds),
        goodConnectsPerSecond: { baseline: rate(r.baseline), duringStorm: rate(r.during) },
        goodConnectsFailed: r.baseline.failed + r.during.failed,
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
