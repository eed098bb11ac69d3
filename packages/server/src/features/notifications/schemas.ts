import { USER_RE } from '@switchboard/protocol';
import { z } from 'zod';
import { cursorParam, timeParam } from '../../storage/paging.js';
import { PRIORITIES } from './model.js';

/**
 * Input schemas of the notifications feature, shared by the HTTP routes and the client
 * commands, so both refuse the same things with the same messages.
 */

export const userId = z.string().regex(USER_RE, 'not a valid user id (1–128 printable ASCII characters, no ":" or spaces)');
export const notificationId = z.string().regex(/^n_[0-9a-z]{1,64}$/, 'not a notification id');
export const notificationType = z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'a type is 1–64 characters [a-z0-9_.-], starting with a letter');
export const category = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'a category is 1–64 characters [A-Za-z0-9_.:-]');
export const priority = z.enum(PRIORITIES);
export const idempotencyKey = z.string().min(1).max(128);

export const actor = z.strictObject({
  id: z.string().min(1).max(128),
  name: z.string().min(1).max(200).optional(),
});

/** `true`/`false`, also as query-string text. */
export const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((s) => s === 'true' || s === '1')]);

export const notificationContent = z.strictObject({
  type: notificationType,
  title: z.string().min(1).max(300),
  body: z.string().max(4000).optional(),
  data: z.unknown().optional(),
  link: z.string().min(1).max(2048).optional(),
  priority: priority.default('normal'),
  category: category.optional(),
  actor: actor.optional(),
  resource: z.string().min(1).max(256).optional(),
  groupKey: z.string().min(1).max(256).optional(),
});

/** The body of POST /notifications: the content and exactly one of `user`, `users`, `everyone`. */
export function createBody(maxRecipients: number) {
  return notificationContent
    .extend({
      user: userId.optional(),
      users: z
        .array(userId)
        .min(1)
        .max(maxRecipients)
        .refine((l) => new Set(l).size === l.length, 'users must be distinct')
        .optional(),
      everyone: z.literal(true).optional(),
    })
    .refine(
      (b) => [b.user, b.users, b.everyone].filter((v) => v !== undefined).length === 1,
      'name the recipients with exactly one of user, users or everyone',
    );
}

export function listFilters(pageSize: number) {
  return {
    unreadOnly: flag.optional(),
    archived: flag.optional(),
    type: notificationType.optional(),
    since: timeParam.optional(),
    cursor: cursorParam.optional(),
    limit: z.coerce.number().int().min(1).max(pageSize).optional(),
  };
}

export const preferencesPatch = {
  mutedTypes: z.array(notificationType).max(100).optional(),
  mutedCategories: z.array(category).max(100).optional(),
  minPriority: priority.optional(),
};

/* Response bodies, for the OpenAPI document: open objects, so a new field breaks no client. */

const actorRecord = z.object({ id: z.string(), name: z.string().optional() });

export const notificationRecord = z.object({
  id: z.string(),
  user: z.string(),
  type: z.string(),
  title: z.string(),
  body: z.string().nullable(),
  data: z.unknown(),
  link: z.string().nullable(),
  priority,
  category: z.string().nullable(),
  actor: actorRecord.nullable(),
  actors: z.array(actorRecord),
  actorCount: z.number().int(),
  count: z.number().int(),
  resource: z.string().nullable(),
  groupKey: z.string().nullable(),
  createdAt: z.number().int().describe('Unix milliseconds'),
  updatedAt: z.number().int(),
  read: z.boolean(),
  readAt: z.number().int().nullable(),
  seen: z.boolean(),
  seenAt: z.number().int().nullable(),
  archived: z.boolean(),
  archivedAt: z.number().int().nullable(),
});

export const notificationPage = z.object({
  notifications: z.array(notificationRecord),
  nextCursor: z.string().nullable().describe('pass as `cursor` for the next (older) page; null on the last page'),
});

export const createResult = z.object({
  count: z.number().int(),
  notifications: z.array(z.object({ id: z.string(), user: z.string(), merged: z.boolean(), pushed: z.boolean() })),
  deduplicated: z.literal(true).optional().describe('present when the Idempotency-Key was seen: nothing was created'),
});

export const unreadCount = z.object({ count: z.number().int(), unseen: z.number().int() });
export const updated = z.object({ updated: z.number().int() });
export const preferences = z.object({ mutedTypes: z.array(z.string()), mutedCategories: z.array(z.string()), minPriority: priority });
