/**
 * A real `switchboard serve` process for the long runs that kill it: started on port 0 on a
 * data directory (its printed port and admin key read back), and killed with SIGKILL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const BIN = join(import.meta.dirname, '..', '..', 'packages', 'server', 'bin', 'switchboard.js');

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  http: string;
  /** The admin API key the banner printed. */
  apiKey: string;
}

export async function startServerProcess(dataDir: string, secret: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--secret', secret, '--log-level', 'silent'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on port (\d+)/.exec(out);
      if (m && /Admin API key: (\S+)/.test(out)) resolve(Number(m[1]));
    });
    child.stderr?.on('data', (d) => {
      out += d;
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code} before listening: ${out}`)));
  });
  return { child, port, http: `http://127.0.0.1:${port}`, apiKey: (/Admin API key: (\S+)/.exec(out) as RegExpExecArray)[1] as string };
}

export function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Stop the server with SIGTERM, then ask SQLite whether its file is sound ('ok', or what integrity_check found). */
export async function stopAndCheck(s: ServerProcess, dataDir: string): Promise<string> {
  s.child.kill('SIGTERM');
  await new Promise((r) => s.child.once('exit', r));
  const db = new Database(join(dataDir, 'switchboard.db'), { readonly: true });
  try {
    return (db.pragma('integrity_check', { simple: true }) as string) ?? 'unknown';
  } finally {
    db.close();
  }
}

/** The command line of a crash run: its options, a progress line, the result as JSON, exit 1 on any loss. */
export async function crashMain<R extends { missing: unknown[]; integrity: string }>(
  defaults: { kills: string; maxLife: string },
  run: (options: { kills: number; maxLifeMs: number; onProgress(n: number, acked: number): void }) => Promise<R>,
): Promise<never> {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ options: { kills: { type: 'string', default: defaults.kills }, 'max-life': { type: 'string', default: defaults.maxLife } } });
  const result = await run({
    kills: Number(values.kills),
    maxLifeMs: Number(values['max-life']),
    onProgress: (n, acked) => process.stderr.write(`\rkills ${n}/${values.kills}, acknowledged ${acked}   `),
  });
  process.stderr.write('\n');
  process.stdout.write(`${JSON.stringify({ ...result, missing: result.missing.length }, null, 2)}\n`);
  process.exit(result.missing.length === 0 && result.integrity === 'ok' ? 0 : 1);
}
