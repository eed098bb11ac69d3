// @ts-check
/**
 * `switchboard serve --workers N` for the comparison run: the CLI's own `serve` (primary:
 * the in-host engine and node:cluster workers sharing the port; workers: a Switchboard each
 * on that engine), with the configuration of servers/switchboard.mjs (default configuration,
 * bench limits, an explicit HMAC secret, logs off). N comes from BENCH_SERVER_WORKERS.
 *
 * The primary is the process the orchestrator forked (IPC harness); its workers are forked by
 * node:cluster running this same file, and answer the primary's memory requests. The
 * orchestrator reads CPU and RSS of the primary and every worker from /proc.
 */
import cluster from 'node:cluster';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve as cliServe } from '../../packages/server/dist/cli/serve.js';
import { ownMemory, secretFromEnv, serve } from './harness.mjs';
import { BENCH_LIMITS } from './limits.mjs';

const MEM = 'bench:memory';
const MEM_RESULT = 'bench:memory-result';
/** How long the primary waits for a worker's memory report (ms). */
const MEM_WAIT_MS = 10_000;

/** @param {string} configFile */
const args = (configFile) => ({ command: 'serve', positionals: [], flags: /** @type {Array<[string, string]>} */ ([['--config', configFile]]), help: false });
const quiet = () => {};

if (cluster.isWorker) {
  // A worker of the primary below: answer its memory requests, then run the CLI's serve.
  process.on('message', (/** @type {{ type?: string, id?: number, gc?: boolean }} */ m) => {
    if (m?.type === MEM) process.send?.({ type: MEM_RESULT, id: m.id, ...ownMemory(m.gc === true) });
  });
  const file = process.env['BENCH_CONFIG_FILE'];
  if (!file) throw new Error('BENCH_CONFIG_FILE is not set in the worker');
  await cliServe(args(file), quiet);
} else {
  await serve(async () => {
    const count = Number(process.env['BENCH_SERVER_WORKERS'] ?? '2');
    // One worker is servers/switchboard.mjs: `serve --workers 1` is that same single process.
    if (!Number.isInteger(count) || count < 2 || count > 64) throw new Error('BENCH_SERVER_WORKERS: 2 to 64');
    const dir = mkdtempSync(join(tmpdir(), 'sb-bench-'));
    const dataDir = join(dir, 'data');
    const configFile = join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        host: '127.0.0.1',
        port: 0,
        dataDir,
        development: false,
        logLevel: 'silent',
        workers: String(count),
        auth: { secret: secretFromEnv() },
        limits: { ...BENCH_LIMITS },
      }),
    );
    // The workers inherit the environment; the secret is in the config file.
    process.env['BENCH_CONFIG_FILE'] = configFile;
    /** @type {number} */
    let port = 0;
    cluster.on('message', (_w, /** @type {{ type?: string, port?: number }} */ m) => {
      if (m?.type === 'sb:listening' && typeof m.port === 'number') port = m.port;
    });
    // Resolves once every worker listens.
    await cliServe(args(configFile), quiet);
    if (!port) throw new Error('no worker reported its port');
    const httpBase = `http://127.0.0.1:${port}`;
    let nextId = 0;

    /** @param {boolean} gc */
    const memory = async (gc) => {
      const id = ++nextId;
      const workers = Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected());
      const reports = await Promise.all(
        workers.map(
          (w) =>
            /** @type {Promise<import('./harness.mjs').Memory | null>} */ (
              new Promise((resolve) => {
                const timer = setTimeout(() => done(null), MEM_WAIT_MS);
                /** @param {{ type?: string, id?: number } & Partial<import('./harness.mjs').Memory>} m */
                const onMessage = (m) => {
                  if (m?.type === MEM_RESULT && m.id === id) done({ heapUsed: m.heapUsed ?? 0, external: m.external ?? 0, arrayBuffers: m.arrayBuffers ?? 0 });
                };
                /** @param {import('./harness.mjs').Memory | null} r */
                const done = (r) => {
                  clearTimeout(timer);
                  w?.off('message', onMessage);
                  resolve(r);
                };
                w?.on('message', onMessage);
                w?.send({ type: MEM, id, gc });
              })
            ),
        ),
      );
      const own = ownMemory(gc);
      for (const r of reports) {
        if (!r) throw new Error('a worker did not report its memory');
        own.heapUsed += r.heapUsed;
        own.external += r.external;
        own.arrayBuffers += r.arrayBuffers;
      }
      return own;
    };

    return {
      port,
      // Every worker's connections, from the host's /metrics (one series per worker).
      async connections() {
        const text = await (await fetch(`${httpBase}/metrics`)).text();
        let sum = 0;
        for (const m of text.matchAll(/^switchboard_connections(?:\{[^}]*\})? (\d+)/gm)) sum += Number(m[1]);
        return sum;
      },
      memory,
      async close() {
        // The CLI primary's own shutdown: SIGTERM drains every worker, then it exits by itself.
        const workers = Object.values(cluster.workers ?? {});
        const exited = workers.map((w) => (w && !w.isDead() ? new Promise((resolve) => w.once('exit', resolve)) : Promise.resolve()));
        process.emit('SIGTERM', 'SIGTERM');
        await Promise.all(exited);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
