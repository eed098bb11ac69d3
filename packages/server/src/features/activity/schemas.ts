import { USER_RE } from '@switchboard/protocol';
import { z } from 'zod';
import { cursorParam, timeParam } from '../../storage/paging.js';

/** Input schemas of activity feeds, shared by the HTTP routes and the client commands. */

/** Scopes are channel names; the resolver checks the name and its namespace. */
export const scope = z.string().min(1).max(1024);
export const actorId = z.string().regex(USER_RE, 'not a valid user id (1–128 printable ASCII characters, no ":" or spaces)');
export const verb = z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'a verb is 1–64 characters [a-z0-9_.-], starting with a letter');
export const objectRef = z.string().min(1).max(256);
export const idempotencyKey = z.string().min(1).max(128);

/** What is recorded, without the actor (a client is always its own actor). */
export const activityContent = {
  scope,
  verb,
  object: objectRef.optional(),
  target: objectRef.optional(),
  data: z.unknown().optional(),
};

export function listFilters(pageSize: number) {
  return {
    actor: actorId.optional(),
    verb: verb.optional(),
    since: timeParam.optional(),
    until: timeParam.optional(),
    cursor: cursorParam.optional(),
    limit: z.coerce.number().int().min(1).max(pageSize).optional(),
  };
}

/* Response bodies, for the OpenAPI document: open objects, so a new field breaks no client. */

export const activityRecord = z.object({
  id: z.string(),
  scope: z.string(),
  actor: z.string(),
  verb: z.string(),
  object: z.string().nullable(),
  target: z.string().nullable(),
  data: z.unknown(),
  time: z.number().int().describe('Unix milliseconds'),
  lastTime: z.number().int(),
  count: z.number().int(),
  objects: z.array(z.string()),
  createdAt: z.number().int(),
});

export const recordResult = z.object({
  activity: activityRecord,
  merged: z.boolean(),
  deduplicated: z.literal(true).optional().describe('present when the Idempotency-Key was seen: nothing was recorded'),
});

export const activityPage = z.object({
  activities: z.array(activityRecord),
  nextCursor: z.string().nullable().describe('pass as `cursor` for the next (older) page; null on the last page'),
});
