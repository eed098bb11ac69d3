import { USER_RE } from '@switchboard/protocol';
import { z } from 'zod';
import { cursorParam, timeParam } from '../../storage/paging.js';
import { MAX_QUERY } from './search.js';

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

/** Full-text search: words, ANDed, the last a prefix (search.ts; docs/activity.md#search). */
export const searchQuery = z.string().max(MAX_QUERY).describe('words to find, all of them; the last one also as a prefix');

export function listFilters(pageSize: number) {
  return {
    q: searchQuery.optional(),
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

/** Query of the insights route; checkRange (insights.ts) refuses reversed and too wide ranges. */
export const insightsParams = {
  scope: scope.optional(),
  q: searchQuery.optional(),
  from: timeParam.describe('from this time on (inclusive): Unix ms or ISO 8601'),
  to: timeParam.describe('before this time (exclusive); at most 31 days after `from` by hour, 366 by day'),
  bucket: z.enum(['hour', 'day']).default('day').describe('UTC hours or days'),
  top: z.coerce.number().int().min(1).max(100).default(10).describe('how many of the most active actors to list'),
};

const counted = z.object({ name: z.string(), count: z.number().int() });

export const activityInsights = z.object({
  total: z.number().int().describe('activities in the range; a grouped activity counts each one merged into it'),
  actors: z.number().int().describe('distinct actors in the range'),
  byVerb: z.array(counted).describe('every verb, most frequent first'),
  byActor: z.array(counted).describe('the `top` most active actors, most active first'),
  buckets: z.array(z.object({ start: z.number().int().describe('start of the UTC hour or day, Unix ms'), count: z.number().int() })),
});
