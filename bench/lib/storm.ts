import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { StormRun } from './results.js';

/**
 * The reconnect storm of `switchboard bench` (its own server, `serve --workers serverWorkers`,
 * and `loadgenWorkers` load-generator processes), read from its --json output.
 */
export async function reconnectStorm(
  root: string,
  clients: number,
  loadgenWorkers: number,
  serverWorkers: number,
  started: Set<{ kill(): unknown }>,
  log: (line: string) => void,
): Promise<StormRun> {
  const server = serverWorkers > 1 ? ` against serve --workers ${serverWorkers}` : '';
  log(`switchboard: reconnect storm of ${clients.toLocaleString('en-US')} clients${server} (switchboard bench reconnect-storm)`);
  const cli = join(root, 'packages', 'server', 'dist', 'cli', 'main.js');
  const child = spawn(
    process.execPath,
    [
      cli,
      'bench',
      'reconnect-storm',
      '--clients',
      String(clients),
      '--workers',
      String(loadgenWorkers),
      ...(serverWorkers > 1 ? ['--server-flag', `--workers=${serverWorkers}`] : []),
      '--json',
      '--progress',
      'none',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  started.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  started.delete(child);
  const empty: StormRun = {
    clients,
    ...(serverWorkers > 1 ? { serverWorkers } : {}),
    ok: false,
    reconnected: 0,
    recovered: 0,
    notRecovered: 0,
    missed: NaN,
    duplicates: NaN,
    outOfOrder: NaN,
    recoveredPublications: 0,
    timeToFullRecoveryMs: NaN,
    reconnectsPerSecond: NaN,
    otherCpuPct: NaN,
  };
  try {
    const r = JSON.parse(out) as {
      ok: boolean;
      figures: {
        storm: {
          reconnected: number;
          recovered: number;
          notRecovered: number;
          recoveredPublications: number;
          timeToFullRecoveryMs: number;
          reconnectsPerSecond: number;
        };
        delivery: { missed: number; duplicates: number; outOfOrder: number };
        otherProcesses: { cpuPct: number };
      };
    };
    const { storm, delivery } = r.figures;
    const run: StormRun = {
      clients,
      ...(serverWorkers > 1 ? { serverWorkers } : {}),
      ok: r.ok,
      reconnected: storm.reconnected,
      recovered: storm.recovered,
      notRecovered: storm.notRecovered,
      recoveredPublications: storm.recoveredPublications,
      timeToFullRecoveryMs: storm.timeToFullRecoveryMs,
      reconnectsPerSecond: storm.reconnectsPerSecond,
      missed: delivery.missed,
      duplicates: delivery.duplicates,
      outOfOrder: delivery.outOfOrder,
      otherCpuPct: r.figures.otherProcesses.cpuPct,
    };
    log(
      `  ${run.recovered.toLocaleString('en-US')} / ${clients.toLocaleString('en-US')} recovered in ${(run.timeToFullRecoveryMs / 1000).toFixed(1)} s, missed ${run.missed}, duplicates ${run.duplicates} (exit ${code})`,
    );
    return run;
  } catch (err) {
    log(`  reconnect storm produced no result (exit ${code}): ${(err as Error).message}`);
    return { ...empty, error: `exit ${code}` };
  }
}
