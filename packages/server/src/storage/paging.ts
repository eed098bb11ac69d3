import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import { ReplyError } from '../errors/reply-error.js';

/**
 * Paging of durable lists (notifications, activities): newest first by (time, id), with
 * opaque cursors, and the time filters their queries take.
 */

/** A position in a list ordered by (time, id), newest first. */
export interface CursorPosition {
  time: number;
  id: string;
}

const ID_RE = /^[0-9a-z_]{1,64}$/;

/** The opaque cursor of a position: base64url of `[time, id]`. */
export function encodeCursor(p: CursorPosition): string {
  return Buffer.from(JSON.stringify([p.time, p.id])).toString('base64url');
}

/** Decode a cursor from a client or backend; anything malformed is a 400 / BadRequest. */
export function decodeCursor(cursor: string): CursorPosition {
  const bad = () => new ReplyError(ErrorCode.BadRequest, 'cursor: not a cursor returned by this API');
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(value) || value.length !== 2) throw bad();
  const [time, id] = value as [unknown, unknown];
  if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < 0 || typeof id !== 'string' || !ID_RE.test(id)) throw bad();
  return { time, id };
}

/** The cursor parameter as lists take it; `decodeCursor` checks what is inside. */
export const cursorParam = z.string().min(1).max(200);

/** A time filter or time value: Unix milliseconds (number or digits) or an ISO 8601 date. */
export const timeParam = z.union([
  z.number().int().min(0).max(8.64e15),
  z
    .string()
    .max(64)
    .transform((s, ctx) => {
      const ms = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
      if (!Number.isSafeInteger(ms) || ms < 0) {
        ctx.addIssue({ code: 'custom', message: 'expected Unix milliseconds or an ISO 8601 date' });
        return z.NEVER;
      }
      return ms;
    }),
]);

/**
 * A page from rows read with `limit + 1`: the first `limit` rows, and the cursor after the
 * last of them when there were more.
 */
export function pageOf<R>(rows: R[], limit: number, position: (row: R) => CursorPosition): { rows: R[]; nextCursor: string | null } {
  if (rows.length <= limit) return { rows, nextCursor: null };
  const page = rows.slice(0, limit);
  return { rows: page, nextCursor: encodeCursor(position(page[limit - 1] as R)) };
}
