import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Engine } from '../engine/engine.js';
import { InHostEngineHost } from '../engine/in-host/host.js';
import { createInHostEngine } from '../engine/in-host/in-host-engine.js';
import { joinLeaveOf } from '../engine/join-leave.js';
import { usesRedis } from '../engine/redis/redis-engine.js';
import { serveHostView } from './host-reports.js';

/** The environment a worker is forked with. */
const SOCKET_ENV = 'SB_INHOST_SOCKET';
const BANNER_ENV = 'SB_WORKER_BANNER';
/** The worker's place among the N (0 … N-1); a restarted worker takes the dead one's. */
const INDEX_ENV = 'SB_WORKER_INDEX';
/** What a worker tells the primary once its server listens. */
const LISTENING = 'sb:listening';

/** The worker processes a config asks for: `auto` is one per CPU available to the process. */
export function workerCount(config: Readonly<Config>): number {
  return config.workers === 'auto' ? availableParallelism() : Number(config.workers);
}

/** In a worker: the in-host engine of its primary (null with Redis: each worker is a Redis node). */
export async function workerEngine(config: Readonly<Config>): Promise<Engine | undefined> {
  const path = process.env[SOCKET_ENV];
  return path ? createInHostEngine({ path, heartbeatTimeout: config.timeouts.presenceTtl }) : undefined;
}

/** In a worker: its place among the workers (0 … N-1), or null outside `--workers N`. */
export function workerIndex(): number | null {
  const index = process.env[INDEX_ENV];
  return index === undefined || index === '' ? null : Number(index);
}

/** In a worker: whether it prints the banner (the first one started does, once). */
export const printsBanner = (): boolean => process.env[BANNER_ENV] === '1';

/** In a worker: tell the primary the port is open; `onPrimaryGone` runs when the primary is gone (kill -9 included). */
export function reportListening(port: number, onPrimaryGone: () => void): void {
  process.send?.({ type: LISTENING, port });
  process.on('disconnect', onPrimaryGone);
}

/**
 * The primary of `serve --workers N`: holds the in-host engine (unless Redis is configured),
 * starts the workers one after the other (so the first creates the data directory's secrets
 * and runs migrations alone), restarts a worker that exits unasked, and on SIGTERM / SIGINT
 * drains every worker and exits 0 once all have.
 */
export async function servePrimary(config: Readonly<Config>, out: (text: string) => void): Promise<void> {
  const count = workerCount(config);
  const dir = mkdtempSync(join(tmpdir(), 'sb-engine-'));
  const path = join(dir, 'engine.sock');
  const host = usesRedis(config)
    ? null
    : await InHostEngineHost.listen({
        path,
        joinLeave: joinLeaveOf(config),
        maxIdleStreams: config.limits.maxIdleStreams,
        heartbeatTimeout: config.timeouts.presenceTtl,
      });
  const live = new Map<Worker, number>();
  let stopping = false;
  let restarts = 0;
  let restarted = 0;
  serveHostView({ workers: live, count, stopping: () => stopping, restarts: () => restarted });

  const fork = (index: number, banner: boolean) =>
    new Promise<Worker>((resolve, reject) => {
      const worker = cluster.fork({ [SOCKET_ENV]: host ? path : '', [BANNER_ENV]: banner ? '1' : '', [INDEX_ENV]: String(index) });
      live.set(worker, index);
      const early = (code: number | null, signal: string | null) => reject(new Error(`worker exited before listening (${signal ?? code})`));
      worker.once('exit', early);
      worker.on('message', (m: { type?: string }) => {
        if (m?.type !== LISTENING) return;
        worker.off('exit', early);
        resolve(worker);
      });
    });

  const finish = (code: number) => {
    void (host ? host.close() : Promise.resolve()).finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(code);
    });
  };

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    out(`${signal}: draining ${live.size} workers and shutting down`);
    const force = setTimeout(() => {
      out('shutdown took too long, exiting');
      for (const w of live.keys()) w.process.kill('SIGKILL');
      finish(1);
    }, config.timeouts.shutdown + 1000);
    force.unref();
    let failed = false;
    const exited = [...live.keys()].map((w) => {
      if (w.isDead()) return Promise.resolve();
      return new Promise<void>((resolve) => {
        w.once('exit', (code) => {
          if (code !== 0) failed = true;
          resolve();
        });
      });
    });
    for (const w of live.keys()) w.process.kill('SIGTERM');
    void Promise.all(exited).then(() => finish(failed ? 1 : 0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  cluster.on('exit', (worker, code, signal) => {
    const index = live.get(worker);
    if (index === undefined || !live.delete(worker) || stopping) return;
    out(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    // A worker that keeps failing is started again less and less often.
    const delay = Math.min(100 * 2 ** Math.min(restarts++, 7), 10_000);
    setTimeout(() => {
      if (stopping) return;
      fork(index, false).then(
        (started) => {
          restarts = 0;
          restarted++;
          out(`worker ${started.process.pid} started in its place`);
        },
        (err: Error) => out(`restarting a worker failed: ${err.message}`),
      );
    }, delay).unref();
  });

  try {
    for (let i = 0; i < count; i++) await fork(i, i === 0);
  } catch (err) {
    out(`starting the workers failed: ${(err as Error).message}`);
    stopping = true;
    for (const w of live.keys()) w.process.kill('SIGTERM');
    finish(1);
    return;
  }
  const pids = [...live.keys()].map((w) => w.process.pid).join(', ');
  out(`  Workers:    ${count} (pids ${pids}; primary ${process.pid}), engine ${host ? 'in-host (in the primary)' : 'redis'}; a crashed worker is restarted`);
}
