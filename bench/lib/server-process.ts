import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A bench server (bench/servers/switchboard.mjs) in its own process, and its CPU from /proc: for the small single-server benches. */

const SERVERS = join(dirname(fileURLToPath(import.meta.url)), '..', 'servers');
const TICKS = (process.env['CLK_TCK'] && Number(process.env['CLK_TCK'])) || 100;

/** utime + stime of a process, µs. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS;
}

/** Poll `check` every 20 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Start servers/switchboard.mjs with this HMAC secret (and `env`, e.g. BENCH_NAMESPACES); resolves once it listens. */
export async function startServer(secret: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const { child, port } = await forkServer('switchboard.mjs', { ...env, BENCH_SECRET: secret });
  return { child, url: `ws://127.0.0.1:${port}/ws` };
}

/**
 * Start one of servers/*.mjs (`script`) with `env`; resolves with its port once it listens.
 * `execArgv` replaces this process's node flags (e.g. `['--expose-gc']`: bare node, no loader).
 */
export async function forkServer(script: string, env: Record<string, string>, execArgv?: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(SERVERS, script), {
    env: { ...process.env, ...env },
    ...(execArgv ? { execArgv } : {}),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 30 s')), 30_000);
    child.on('message', (m: { type: string; port?: number }) => {
      if (m.type !== 'ready') return;
      clearTimeout(timer);
      resolve(m.port as number);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code})`)));
  });
  return { child, port };
}

export async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.send({ type: 'stop' });
  const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(hard);
}
