/**
 * A real `switchboard serve` process for the long runs that kill it: started on port 0 on a
 * data directory (its printed port and admin key read back), and killed with SIGKILL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

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
