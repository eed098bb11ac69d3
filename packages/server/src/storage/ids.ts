import { randomBytes } from 'node:crypto';

/**
 * A new row id: prefix, time in base 36, then random hex. Only [0-9a-z_], so every
 * collation (SQLite bytes, PostgreSQL locales) orders ids the same way.
 */
export function newId(prefix: string, now = Date.now()): string {
  return `${prefix}_${now.toString(36).padStart(9, '0')}${randomBytes(8).toString('hex')}`;
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
  return `${prefix}_${lastTime.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${randomBytes(6).toString('hex')}`;
}
