import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import { ReplyError } from '../../errors/reply-error.js';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import { idempotencyHeaders } from '../../http/api/schemas.js';
import {
  channel,
  commentCreated,
  commentDraft,
  commentId,
  commentRecord,
  listFilters,
  metadata,
  reaction,
  reactionsAnswer,
  receiptRecord,
  threadCreated,
  threadDraft,
  threadId,
  threadInfoRecord,
  threadPage,
  threadRecord,
  userId,
} from './schemas.js';
import type { Actor, CommentThreads } from './threads.js';

const MAX_PAGE = 200;
const TAG = 'comments';

const channelParams = z.strictObject({ channel });
const threadParams = z.strictObject({ threadId });
const commentParams = z.strictObject({ threadId, commentId });
const reactionParams = z.strictObject({ threadId, commentId, reaction });
const asUser = userId.describe('the user the backend acts for');

/** The backend acts in the key's tenant, for `userId` (or, where it may be left out, as itself). */
const backend = (tenant: string, user?: string): Actor => ({ tenant, userId: user ?? null, identity: null });
const key = (headers: { 'idempotency-key'?: string | undefined }) => {
  const k = headers['idempotency-key'];
  return k === undefined ? undefined : `api:${k}`;
};

/** HTTP routes of comment threads for the app backend (under /api/v1, API key required). */
export function commentRoutes(threads: () => CommentThreads): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/channels/:channel/threads',
      operationId: 'createThread',
      tag: TAG,
      summary: 'Start a comment thread on a channel, with its first comment by `userId`',
      description:
        'Stored, then pushed to `comments:{channel}`; mentioned users get a `mention` notification. 201 when created; 200 with `deduplicated` when the Idempotency-Key was seen.',
      headers: idempotencyHeaders,
      params: channelParams,
      body: z.strictObject({ userId: asUser, ...threadDraft }),
      response: threadCreated,
      created: (r) => r.deduplicated !== true,
      errors: [413, 422, 503],
      async handler({ tenant, params, body: { userId: user, ...draft }, headers }) {
        const out = await threads().createThread(backend(tenant, user), params.channel, draft, key(headers));
        return { thread: out.value, ...(out.deduplicated ? { deduplicated: true as const } : {}) };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/channels/:channel/threads',
      operationId: 'listThreads',
      tag: TAG,
      summary: 'Threads of a channel, newest first, one page, each with its comments',
      description: '`metadata` is a JSON object: only threads whose metadata has each of its top-level keys with an equal value.',
      params: channelParams,
      query: z.strictObject({ ...listFilters(MAX_PAGE, true), forUser: userId.optional().describe("add each thread's `unread` count of this user") }),
      response: threadPage,
      errors: [422, 503],
      async handler({ tenant, params, query }) {
        if (query.unread !== undefined && query.forUser === undefined) throw new ReplyError(ErrorCode.BadRequest, 'query.unread: needs forUser');
        return threads().list(backend(tenant), params.channel, query);
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/threads/:threadId',
      operationId: 'getThread',
      tag: TAG,
      summary: 'A thread with its comments, oldest first (tombstones included)',
      params: threadParams,
      response: threadRecord,
      errors: [404, 422, 503],
      async handler({ tenant, params }) {
        return threads().get(backend(tenant), params.threadId);
      },
    }),
    defineRoute({
      method: 'PATCH',
      url: '/threads/:threadId',
      operationId: 'updateThread',
      tag: TAG,
      summary: 'Resolve or reopen a thread, or replace its metadata',
      description: '`userId` is recorded as `resolvedBy` when the thread is resolved.',
      params: threadParams,
      body: z.strictObject({ userId: asUser.optional(), resolved: z.boolean().optional(), metadata: metadata.optional() }),
      response: threadInfoRecord,
      errors: [404, 413, 422, 503],
      async handler({ tenant, params, body: { userId: user, ...patch } }) {
        return threads().update(backend(tenant, user), params.threadId, patch);
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/threads/:threadId',
      operationId: 'deleteThread',
      tag: TAG,
      summary: 'Delete a thread and all its comments',
      params: threadParams,
      response: threadInfoRecord,
      errors: [404, 422, 503],
      async handler({ tenant, params }) {
        return threads().deleteThread(backend(tenant), params.threadId);
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/threads/:threadId/comments',
      operationId: 'addComment',
      tag: TAG,
      summary: 'Reply in a thread as `userId`',
      description: 'The comment gets the next `seq` of the thread. 201 when created; 200 with `deduplicated` when the Idempotency-Key was seen.',
      headers: idempotencyHeaders,
      params: threadParams,
      body: z.strictObject({ userId: asUser, ...commentDraft }),
      response: commentCreated,
      created: (r) => r.deduplicated !== true,
      errors: [404, 413, 422, 503],
      async handler({ tenant, params, body: { userId: user, ...draft }, headers }) {
        const out = await threads().reply(backend(tenant, user), params.threadId, draft, key(headers));
        return { comment: out.value, ...(out.deduplicated ? { deduplicated: true as const } : {}) };
      },
    }),
    defineRoute({
      method: 'PATCH',
      url: '/threads/:threadId/comments/:commentId',
      operationId: 'editComment',
      tag: TAG,
      summary: "Change a comment's body and mentions",
      description: 'With `userId`, only when that user wrote it (403 otherwise); without, any comment. 409 for a deleted comment.',
      params: commentParams,
      body: z.strictObject({ userId: asUser.optional(), ...commentDraft }),
      response: commentRecord,
      errors: [403, 404, 409, 413, 422, 503],
      async handler({ tenant, params, body: { userId: user, ...draft } }) {
        return threads().edit(backend(tenant, user), params.threadId, params.commentId, draft);
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/threads/:threadId/comments/:commentId',
      operationId: 'deleteComment',
      tag: TAG,
      summary: 'Delete a comment: it stays as a tombstone (empty body, `deletedAt` set)',
      description: 'With `userId`, only when that user wrote it (403 otherwise). Deleting a tombstone again answers it unchanged.',
      params: commentParams,
      query: z.strictObject({ userId: asUser.optional() }),
      response: commentRecord,
      errors: [403, 404, 422, 503],
      async handler({ tenant, params, query }) {
        return threads().deleteComment(backend(tenant, query.userId), params.threadId, params.commentId);
      },
    }),
    ...(['PUT', 'DELETE'] as const).map((method) =>
      defineRoute({
        method,
        url: '/threads/:threadId/comments/:commentId/reactions/:reaction',
        operationId: method === 'PUT' ? 'addReaction' : 'removeReaction',
        tag: TAG,
        summary:
          method === 'PUT' ? 'Give a reaction as `userId` (giving it again changes nothing)' : "Take back `userId`'s reaction (an absent one changes nothing)",
        description: "Answers the comment's reactions as stored after the request; watchers of `comments:{channel}` get them within 50 ms.",
        params: reactionParams,
        query: z.strictObject({ userId: asUser }),
        response: reactionsAnswer,
        errors: [404, 409, 422, 429, 503],
        async handler({ tenant, params, query }) {
          return threads().setReaction(backend(tenant, query.userId), params.threadId, params.commentId, params.reaction, method === 'PUT');
        },
      }),
    ),
    defineRoute({
      method: 'PUT',
      url: '/threads/:threadId/read',
      operationId: 'markThreadRead',
      tag: TAG,
      summary: "Move `userId`'s read receipt in a thread forward to one of its comments",
      description: 'A receipt never moves back: marking an earlier comment answers the receipt unchanged. 404 for a comment of another thread.',
      params: threadParams,
      body: z.strictObject({ userId: asUser, commentId }),
      response: receiptRecord,
      errors: [404, 422, 503],
      async handler({ tenant, params, body }) {
        return threads().markRead(backend(tenant, body.userId), params.threadId, body.commentId);
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/threads/:threadId/read',
      operationId: 'threadReceipts',
      tag: TAG,
      summary: 'How far each user has read a thread',
      params: threadParams,
      response: z.object({ receipts: z.array(receiptRecord) }),
      errors: [404, 422, 503],
      async handler({ tenant, params }) {
        return { receipts: await threads().receipts(backend(tenant), params.threadId) };
      },
    }),
  ];
}
