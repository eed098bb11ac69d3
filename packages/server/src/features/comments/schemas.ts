import { USER_RE } from '@switchboard/protocol';
import { z } from 'zod';
import { cursorParam, timeParam } from '../../storage/paging.js';

/**
 * Input schemas of comment threads, shared by the HTTP routes and the client commands. The
 * configured limits (body length, mentions, metadata size) are checked by CommentThreads,
 * so that each has its own error code; these bound what is parsed at all.
 */

export const userId = z.string().regex(USER_RE, 'not a valid user id (1–128 printable ASCII characters, no ":" or spaces)');
export const threadId = z.string().regex(/^t_[0-9a-z]{1,64}$/, 'not a thread id');
export const commentId = z.string().regex(/^c_[0-9a-z]{1,64}$/, 'not a comment id');
/** A channel name; the resolver checks the name and its namespace. */
export const channel = z.string().min(1).max(1024);
export const idempotencyKey = z.string().min(1).max(128);
export const body = z.string().min(1, 'a comment body is not empty').max(1_000_000);
export const mentions = z.array(userId).max(10_000);
export const metadata = z.record(z.string().max(256), z.unknown());
/** A reaction name (the configured list decides which are allowed; emoji are fine). */
export const reaction = z.string().min(1).max(64);

/** `true`/`false`, also as query-string text. */
export const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((s) => s === 'true' || s === '1')]);

/** Metadata equality filter as query-string text: a JSON object. */
const metadataText = z
  .string()
  .max(4096)
  .transform((s, ctx) => {
    try {
      const v = JSON.parse(s) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: 'expected a JSON object of metadata values to match' });
    return z.NEVER;
  });

export const threadDraft = {
  body,
  mentions: mentions.optional(),
  metadata: metadata.optional(),
  respondBy: timeParam.optional().describe('by when someone other than the author should reply: Unix ms or ISO 8601'),
};

export const commentDraft = { body, mentions: mentions.optional() };

export function listFilters(pageSize: number, http: boolean) {
  return {
    resolved: flag.optional().describe('only resolved (true) or open (false) threads'),
    unread: flag
      .optional()
      .describe(
        http
          ? 'with `forUser`: only threads with (true) or without (false) comments the user has not read'
          : 'only threads with (true) or without (false) comments you have not read',
      ),
    metadata: (http ? metadataText : metadata).optional().describe('only threads whose metadata has these top-level values (a JSON object)'),
    cursor: cursorParam.optional(),
    limit: z.coerce.number().int().min(1).max(pageSize).optional(),
  };
}

/* Response bodies, for the OpenAPI document: open objects, so a new field breaks no client. */

export const reactionRecord = z.object({ reaction: z.string(), count: z.number().int(), userIds: z.array(z.string()) });

/** A reaction in an answer to a reaction change: the users listed may be the first few only. */
const cappedReactionRecord = reactionRecord.extend({
  count: z.number().int().describe('how many users gave it (exact)'),
  userIds: z
    .array(z.string())
    .describe('the first users who gave it, in the order they gave it: at most `comments.reactionUsers` (default 20); fewer than `count` when partial'),
});

export const commentRecord = z.object({
  id: z.string(),
  threadId: z.string(),
  seq: z.number().int().describe('1, 2, 3… in the thread, without gaps'),
  userId: z.string(),
  body: z.string().describe('empty for a deleted comment'),
  mentions: z.array(z.string()),
  createdAt: z.number().int().describe('Unix milliseconds'),
  editedAt: z.number().int().nullable(),
  deletedAt: z.number().int().nullable().describe('set on a tombstone'),
  reactions: z.array(reactionRecord),
});

export const threadInfoRecord = z.object({
  id: z.string(),
  channel: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  resolved: z.boolean(),
  resolvedAt: z.number().int().nullable(),
  resolvedBy: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  respondBy: z.number().int().nullable(),
  commentCount: z.number().int().describe('comments in the thread, tombstones included'),
  unread: z.number().int().optional().describe('comments `forUser` has not read, when asked'),
});

export const threadRecord = threadInfoRecord.extend({ comments: z.array(commentRecord).describe('oldest first') });

export const threadPage = z.object({
  threads: z.array(threadRecord),
  nextCursor: z.string().nullable().describe('pass as `cursor` for the next (older) page; null on the last page'),
});

export const reactionsAnswer = z.object({
  reactions: z.array(cappedReactionRecord).describe("the comment's reactions as stored after the request"),
  version: z.number().int().describe('reaction changes of the comment so far: a higher one is a later state'),
  mine: z.array(z.string()).describe('the reactions `userId` holds on the comment after the request, in the order given'),
});

export const receiptRecord = z.object({
  userId: z.string(),
  commentId: z.string().describe('the latest comment read'),
  seq: z.number().int().describe("that comment's seq: everything up to it is read"),
  readAt: z.number().int().describe('Unix milliseconds of the last move forward'),
});

export const deduplicated = z.literal(true).optional().describe('present when the idempotency key was seen: nothing new was written');
export const threadCreated = z.object({ thread: threadRecord, deduplicated });
export const commentCreated = z.object({ comment: commentRecord, deduplicated });
