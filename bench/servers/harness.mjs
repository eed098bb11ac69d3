// @ts-check
// Plain JavaScript on purpose: the bench servers run on bare `node` (no TypeScript loader
// thread in the measured process), type-checked through `checkJs` (see bench/tsconfig.json).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/**
 * @typedef {object} RunningServer
 * @property {number} port
 * @property {() => number | Promise<number>} connections  Connections the server currently holds.
 * @property {() => Promise<void>} close
 * @property {(gc: boolean) => Promise<Memory>} [memory]  Memory of every process of the server
 *   (summed); without it, this process's own `process.memoryUsage()` after an optional GC.
 */

/** @typedef {{ heapUsed: number, external: number, arrayBuffers: number }} Memory */

/** @param {import('@switchboard/loadgen').ServerReply} msg */
function send(msg) {
  process.send?.(msg);
}

/** @type {(() => void) | undefined} */
const gc = /** @type {{ gc?: () => void }} */ (globalThis).gc;

/**
 * Common wrapper of the three bench servers: started by the orchestrator with fork()
 * (its own process, so the load generator's CPU is not counted), driven over IPC.
 * @param {() => Promise<RunningServer>} start
 */
export async function serve(start) {
  if (!process.send) throw new Error('start this through bench/compare.ts (needs an IPC channel)');
  const server = await start();
  process.on('message', (raw) => {
    const msg = /** @type {import('@switchboard/loadgen').ServerRequest} */ (raw);
    if (msg.type === 'stats') {
      stats(server, msg.gc === true).then(send, (err) => process.stderr.write(`stats failed: ${err}\n`));
    } else if (msg.type === 'profile') {
      profile(msg.action, msg.file).then(
        () => send({ type: 'profiled' }),
        (err) => {
          process.stderr.write(`profile ${msg.action} failed: ${err}\n`);
          send({ type: 'profiled' });
        },
      );
    } else if (msg.type === 'stop') {
      const hard = setTimeout(() => process.exit(0), 5000);
      server
        .close()
        .catch(() => {})
        .finally(() => {
          clearTimeout(hard);
          send({ type: 'stopped' });
          // Exit normally so --cpu-prof can write its profile.
          setTimeout(() => process.exit(0), 50);
        });
    }
  });
  // The orchestrator went away: do not linger.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port: server.port, url: `ws://127.0.0.1:${server.port}` });
}

/**
 * @param {RunningServer} server
 * @param {boolean} withGc
 * @returns {Promise<import('@switchboard/loadgen').ServerReply>}
 */
async function stats(server, withGc) {
  const memory = server.memory ? await server.memory(withGc) : ownMemory(withGc);
  return { type: 'stats', rss: process.memoryUsage().rss, ...memory, connections: await server.connections() };
}

/**
 * This process's memory, after two forced GCs when asked (and `--expose-gc` is on).
 * @param {boolean} withGc
 * @returns {Memory}
 */
export function ownMemory(withGc) {
  if (withGc && gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** @type {Session | null} */
let session = null;

/**
 * CPU profile of a measured window only (not of start-up or connection set-up).
 * @param {'start' | 'stop'} action
 * @param {string | undefined} file
 */
export async function profile(action, file) {
  if (action === 'start') {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    return;
  }
  if (!session) return;
  const { profile: result } = await session.post('Profiler.stop');
  session.disconnect();
  session = null;
  if (file) writeFileSync(file, JSON.stringify(result));
}

/** @returns {string} */
export function secretFromEnv() {
  const secret = process.env['BENCH_SECRET'];
  if (!secret || secret.length < 32) throw new Error('BENCH_SECRET (>= 32 characters) is required');
  return secret;
}
