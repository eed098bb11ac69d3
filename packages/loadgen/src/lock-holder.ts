/**
 * A lock holder in a process of its own, for the locks scenario's kill -9 case: connects
 * (SB_URL, SB_TOKEN), takes SB_KEY on SB_CHANNEL, prints `held <fencingToken>` and waits to
 * be killed. Leaves by itself when its stdin closes (the bench went away) or after 120 s.
 */
import { WireConnection } from './wire.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const conn = new WireConnection(env('SB_URL'));
setTimeout(() => process.exit(2), 120_000).unref();
process.stdin.once('end', () => process.exit(0));
process.stdin.resume();
try {
  await conn.opened;
  await conn.call('connect', { token: env('SB_TOKEN'), name: 'switchboard-bench-lock-holder' });
  const lock = (await conn.command('locks.acquire', { channel: env('SB_CHANNEL'), key: env('SB_KEY') })) as { fencingToken: number };
  process.stdout.write(`held ${lock.fencingToken}\n`);
} catch (err) {
  process.stdout.write(`failed ${(err as Error).message}\n`);
  process.exit(1);
}
