/**
 * Cost of the periodic position check (not a test): one node listening to N channels, each
 * with one publication, on a redis-server of its own; one check round, measured by INFO
 * commandstats and wall time. Prints commands per round and per second at the default 30 s.
 *   npm run build && npx tsx test/cluster/position-check-cost.ts [channels]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrokerHandler } from '@switchboard/server/testing';
import { RedisBroker, RedisConnection } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { eventually } from '../helpers/eventually.js';
import { freePort, killRedis, startRedis } from './redis-servers.js';

const CHANNELS = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'sb-poscheck-'));
const port = await freePort();
const redis = await startRedis(dir, port, []);
const admin = new Redis({ port, host: '127.0.0.1' });
try {
  const conn = await RedisConnection.open({ url: `redis://127.0.0.1:${port}`, prefix: 'pc' });
  // The timer never fires during the run: the round is started here.
  const broker = new RedisBroker(conn, { positionCheck: 3_600_000 });
  let delivered = 0;
  const handler: BrokerHandler = {
    onPublication() {
      delivered++;
    },
    onEvent() {},
    onStreamLost() {},
  };
  broker.setHandler(handler);
  const opts = { historySize: 100, historyTtl: 300_000, idempotencyTtl: 60_000 };
  for (let i = 0; i < CHANNELS; i += 500) {
    const batch = Array.from({ length: Math.min(500, CHANNELS - i) }, (_, k) => `acme|project:${i + k}`);
    await Promise.all(batch.map((ch) => broker.subscribe(ch)));
    await Promise.all(batch.map((ch) => broker.publish(ch, '1', opts)));
  }
  // Every publication has arrived, so each channel has a position to check.
  await eventually(() => delivered === CHANNELS, 30_000, 'every publication delivered');
  const stats = async () => {
    const info = await admin.info('commandstats');
    let calls = 0;
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info') calls += Number(m[2]);
    const cpu = await admin.info('cpu');
    const used = [...cpu.matchAll(/^used_cpu_(?:sys|user):([\d.]+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
    return { calls, cpu: used };
  };
  await admin.config('RESETSTAT');
  const before = await stats();
  const started = process.hrtime.bigint();
  await broker.checkPositions();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const after = await stats();
  const calls = after.calls - before.calls;
  console.log(
    `${CHANNELS} channels: one check round = ${calls} commands (${(calls / CHANNELS).toFixed(2)} per channel, EVALSHA + inner), ${ms.toFixed(0)} ms, Redis CPU ${((after.cpu - before.cpu) * 1000).toFixed(0)} ms`,
  );
  console.log(`at timeouts.positionCheck = 30 s: ${(CHANNELS / 30).toFixed(0)} script calls/s, ${(calls / 30).toFixed(0)} commands/s`);
  await broker.close();
} finally {
  admin.disconnect();
  await killRedis(redis);
  rmSync(dir, { recursive: true, force: true });
}
