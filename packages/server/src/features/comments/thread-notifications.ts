import type { Logger } from 'pino';
import type { Comment, ThreadInfo } from './model.js';

/** What comments need of the notifications feature's service (its Inbox): creating notifications. */
export interface Mentions {
  create(
    tenant: string,
    recipients: readonly string[],
    input: {
      type: string;
      title: string;
      body?: string;
      data?: unknown;
      priority: 'normal' | 'high';
      actor?: { id: string };
      resource?: string;
      groupKey?: string;
    },
    options?: { idempotencyKey?: string },
  ): Promise<unknown>;
}

const EXCERPT = 200;

function excerpt(body: string): string {
  const chars = [...body];
  return chars.length > EXCERPT ? `${chars.slice(0, EXCERPT - 1).join('')}…` : body;
}

async function notify(
  inbox: Mentions,
  tenant: string,
  recipients: readonly string[],
  type: 'mention' | 'reply',
  thread: ThreadInfo,
  comment: Comment,
  logger: Logger,
): Promise<void> {
  if (recipients.length === 0) return;
  try {
    await inbox.create(tenant, recipients, {
      type,
      title: type === 'mention' ? `${comment.userId} mentioned you` : `${comment.userId} replied`,
      body: excerpt(comment.body),
      data: { channel: thread.channel, threadId: thread.id, commentId: comment.id },
      priority: 'normal',
      actor: { id: comment.userId },
      resource: thread.channel.slice(0, 256),
      groupKey: `comments:${thread.id}:${type}`,
    });
  } catch (err) {
    logger.warn({ err, thread: thread.id }, `${type} notifications failed (the comment is stored)`);
  }
}

/**
 * One `mention` notification to each newly mentioned user (never the author), grouped per
 * thread (group key `comments:{threadId}:mention`): a user mentioned again in the thread
 * within the notifications group window gets the one notification updated. The comment is
 * committed already; a failure here is logged, not answered.
 */
export function notifyMentions(inbox: Mentions, tenant: string, thread: ThreadInfo, comment: Comment, users: readonly string[], logger: Logger): Promise<void> {
  const recipients = [...new Set(users)].filter((u) => u !== comment.userId);
  return notify(inbox, tenant, recipients, 'mention', thread, comment, logger);
}

/**
 * A `reply` notification to each user subscribed to the thread, but the replier and the
 * users this reply mentions (they get the mention), grouped per thread
 * (`comments:{threadId}:reply`).
 */
export function notifyReply(
  inbox: Mentions,
  tenant: string,
  thread: ThreadInfo,
  comment: Comment,
  followers: readonly string[],
  logger: Logger,
): Promise<void> {
  const skip = new Set([comment.userId, ...comment.mentions]);
  return notify(
    inbox,
    tenant,
    followers.filter((u) => !skip.has(u)),
    'reply',
    thread,
    comment,
    logger,
  );
}

/**
 * The one `alert` of a thread whose `respondBy` passed with no reply by another user, to its
 * author. Its idempotency key is the thread's, so a sweep that runs again (another node, a
 * restart before the thread was marked) creates nothing new. Throws when the inbox fails
 * (the thread stays unmarked and the next sweep tries again).
 */
export async function notifyMissedDeadline(inbox: Mentions, tenant: string, thread: ThreadInfo): Promise<void> {
  await inbox.create(
    tenant,
    [thread.createdBy],
    {
      type: 'alert',
      title: 'No reply in time',
      body: `Nobody replied to your thread on ${thread.channel} by ${new Date(thread.respondBy ?? 0).toISOString()}`,
      data: { channel: thread.channel, threadId: thread.id, respondBy: thread.respondBy },
      priority: 'high',
      resource: thread.channel.slice(0, 256),
    },
    { idempotencyKey: `comments:respond-by:${thread.id}` },
  );
}
