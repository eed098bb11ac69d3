import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../errors/reply-error.js';

/** Network errors of a database connection (PostgreSQL over TCP). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** SQLite: another connection holds the lock past busy_timeout. */
const SQLITE_CODES = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_TIMEOUT']);

/**
 * Whether a storage error means "the store is unreachable or busy; the same request may
 * succeed later" rather than a bug: network errors, PostgreSQL connection exceptions
 * (class 08), shutdown (57P0x), insufficient resources (53), serialization failures and
 * deadlocks (40001, 40P01), SQLite busy/locked.
 */
export function isTransient(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return /timeout exceeded when trying to connect|Connection terminated/i.test(String((err as Error).message));
  if (NETWORK_CODES.has(code) || SQLITE_CODES.has(code)) return true;
  return /^(08|53|57P0)/.test(code) || code === '40001' || code === '40P01';
}

/**
 * Run a storage operation: a transient failure becomes Unavailable (116, temporary: 503 over
 * HTTP); reply errors and anything else pass through (the latter answer Internal).
 */
export async function storageCall<T>(op: Promise<T>, onTransient: (err: unknown) => void): Promise<T> {
  try {
    return await op;
  } catch (err) {
    if (err instanceof ReplyError || !isTransient(err)) throw err;
    onTransient(err);
    throw new ReplyError(ErrorCode.Unavailable, 'storage unavailable');
  }
}
