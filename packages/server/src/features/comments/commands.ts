import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import { type CommandDefinition, defineCommand } from '../../core/command.js';
import type { SessionContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import { channel, commentDraft, commentId, idempotencyKey, listFilters, metadata, reaction, threadDraft, threadId } from './schemas.js';
import type { Actor, CommentThreads } from './threads.js';

/** The largest page a command may ask for; `comments.pageSize` caps it further. */
const MAX_PAGE = 200;

/** The connection's user, in its tenant, with its permissions checked on every thread's channel. */
function actorOf(client: SessionContext): Actor {
  const identity = client.identity as Identity;
  return { tenant: identity.tenant, userId: identity.user, identity };
}

/** A write takes a token of the connection's publish rate. */
function writes(client: SessionContext): Actor {
  if (!client.publishBucket.take()) throw new ReplyError(ErrorCode.TooManyRequests, 'publish rate per connection');
  return actorOf(client);
}

const userKey = (client: SessionContext, key: string | undefined): string | undefined =>
  key === undefined ? undefined : `user:${(client.identity as Identity).user}:${key}`;

/** Client commands of comment threads: a connection acts as its own user, in its own tenant. */
export function commentCommands(threads: () => CommentThreads): CommandDefinition[] {
  const thread = { threadId };
  return [
    defineCommand({
      method: 'comments.list',
      params: z.strictObject({ channel, ...listFilters(MAX_PAGE, false) }),
      async handler({ client }, { channel: ch, ...query }) {
        // A connection's threads carry its own unread counts.
        return threads().list(actorOf(client), ch, { ...query, forUser: (client.identity as Identity).user });
      },
    }),
    defineCommand({
      method: 'comments.get',
      params: z.strictObject(thread),
      async handler({ client }, p) {
        return threads().get(actorOf(client), p.threadId);
      },
    }),
    defineCommand({
      method: 'comments.create_thread',
      params: z.strictObject({ channel, ...threadDraft, idempotencyKey: idempotencyKey.optional() }),
      async handler({ client }, { channel: ch, idempotencyKey: key, ...draft }) {
        const out = await threads().createThread(writes(client), ch, draft, userKey(client, key));
        return { thread: out.value, ...(out.deduplicated ? { deduplicated: true } : {}) };
      },
    }),
    defineCommand({
      method: 'comments.reply',
      params: z.strictObject({ ...thread, ...commentDraft, idempotencyKey: idempotencyKey.optional() }),
      async handler({ client }, { threadId: id, idempotencyKey: key, ...draft }) {
        const out = await threads().reply(writes(client), id, draft, userKey(client, key));
        return { comment: out.value, ...(out.deduplicated ? { deduplicated: true } : {}) };
      },
    }),
    defineCommand({
      method: 'comments.edit',
      params: z.strictObject({ ...thread, commentId, ...commentDraft }),
      async handler({ client }, { threadId: id, commentId: cid, ...draft }) {
        return { comment: await threads().edit(writes(client), id, cid, draft) };
      },
    }),
    defineCommand({
      method: 'comments.delete',
      params: z.strictObject({ ...thread, commentId }),
      async handler({ client }, p) {
        return { comment: await threads().deleteComment(writes(client), p.threadId, p.commentId) };
      },
    }),
    defineCommand({
      method: 'comments.resolve',
      params: z.strictObject(thread),
      async handler({ client }, p) {
        return { thread: await threads().update(writes(client), p.threadId, { resolved: true }) };
      },
    }),
    defineCommand({
      method: 'comments.reopen',
      params: z.strictObject(thread),
      async handler({ client }, p) {
        return { thread: await threads().update(writes(client), p.threadId, { resolved: false }) };
      },
    }),
    defineCommand({
      method: 'comments.set_metadata',
      params: z.strictObject({ ...thread, metadata }),
      async handler({ client }, p) {
        return { thread: await threads().update(writes(client), p.threadId, { metadata: p.metadata }) };
      },
    }),
    defineCommand({
      method: 'comments.set_reaction',
      params: z.strictObject({ ...thread, commentId, reaction, on: z.boolean() }),
      async handler({ client }, p) {
        return threads().setReaction(writes(client), p.threadId, p.commentId, p.reaction, p.on);
      },
    }),
    defineCommand({
      method: 'comments.mark_read',
      params: z.strictObject({ ...thread, commentId }),
      async handler({ client }, p) {
        return { receipt: await threads().markRead(actorOf(client), p.threadId, p.commentId) };
      },
    }),
    defineCommand({
      method: 'comments.receipts',
      params: z.strictObject(thread),
      async handler({ client }, p) {
        return { receipts: await threads().receipts(actorOf(client), p.threadId) };
      },
    }),
    defineCommand({
      method: 'comments.subscribe_thread',
      params: z.strictObject(thread),
      async handler({ client }, p) {
        await threads().follow(actorOf(client), p.threadId, true);
        return {};
      },
    }),
    defineCommand({
      method: 'comments.unsubscribe_thread',
      params: z.strictObject(thread),
      async handler({ client }, p) {
        await threads().follow(actorOf(client), p.threadId, false);
        return {};
      },
    }),
    defineCommand({
      method: 'comments.typing',
      params: z.strictObject(thread),
      async handler({ client }, p) {
        await threads().typing(writes(client), p.threadId);
        return {};
      },
    }),
  ] as CommandDefinition[];
}
