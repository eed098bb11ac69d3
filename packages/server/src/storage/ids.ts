import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for ids, drawn from a pool filled 4 KiB at a time by the same CSPRNG as
 * `randomBytes`: one call into it per 512 eight-byte ids instead of one per id (on the
 * notifications and webhooks write paths that call was a tenth of the server's CPU).
 */
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolOffset = POOL_BYTES;

/** `bytes` random bytes (at most 64) as lowercase hex. */
export function randomHex(bytes: number): string {
  if (bytes > 64) throw new RangeError('randomHex draws at most 64 bytes');
  if (poolOffset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

/**
 * A new row id: prefix, time in base 36, then random hex. Only [0-9a-z_], so every
 * collation (SQLite bytes, PostgreSQL locales) orders ids the same way.
 */
export function newId(prefix: string, now = Date.now()): string {
  return `${prefix}_${now.toString(36).padStart(9, '0')}${randomHex(8)}`;
}

let lastTime = -1;
let sequence = 0;

/**
 * Like `newId`, but ids made by one process increase strictly, also within one millisecond
 * (a counter after the time): events sort in the order they happened on their node.
 */
export function newOrderedId(prefix: string, now = Date.now()): string {
  if (now > lastTime) {
    lastTime = now;
    sequence = 0;
  } else sequence++;
  return `${prefix}_${lastTime.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${randomHex(6)}`;
}
