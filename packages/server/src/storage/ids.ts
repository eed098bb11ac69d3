import { randomBytes } from 'node:crypto';

/**
 * A new row id: prefix, time in base 36, then random hex. Only [0-9a-z_], so every
 * collation (SQLite bytes, PostgreSQL locales) orders ids the same way.
 */
export function newId(prefix: string, now = Date.now()): string {
  return `${prefix}_${now.toString(36).padStart(9, '0')}${randomBytes(8).toString('hex')}`;
}
