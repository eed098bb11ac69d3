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
      priority: 'normal';
      actor?: { id: string };
      resource?: string;
      groupKey?: string;
    },
  ): Promise<unknown>;
}

const EXCERPT = 200;

/**
 * One `mention` notification to each newly mentioned user (never the author), grouped per
 * thread: a user mentioned again in the same thread within the notifications group window
 * gets the one notification updated. The comment is committed already; a failure here is
 * logged, not answered.
 */
export async function notifyMentions(
  inbox: Mentions,
  tenant: string,
  thread: ThreadInfo,
  comment: Comment,
  users: readonly string[],
  logger: Logger,
): Promise<void> {
  const recipients = [...new Set(users)].filter((u) => u !== comment.userId);
  if (recipients.length === 0) return;
  const body = [...comment.body].length > EXCERPT ? `${[...comment.body].slice(0, EXCERPT - 1).join('')}…` : comment.body;
  try {
    await inbox.create(tenant, recipients, {
      type: 'mention',
      title: `${comment.userId} mentioned you`,
      body,
      data: { channel: thread.channel, threadId: thread.id, commentId: comment.id },
      priority: 'normal',
      actor: { id: comment.userId },
      resource: thread.channel.slice(0, 256),
      groupKey: `comments:${thread.id}`,
    });
  } catch (err) {
    logger.warn({ err, thread: thread.id }, 'mention notifications failed (the comment is stored)');
  }
}
