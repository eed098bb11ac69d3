import type { Comment, ReactionCount, Thread, ThreadInfo } from '@switchboard/protocol';
import type { Selectable } from 'kysely';
import type { CommentTable, CommentThreadTable } from './tables.js';

export type { Comment, ReactionCount, Thread, ThreadInfo } from '@switchboard/protocol';

/** The namespace of live comment channels: the threads of channel C are live on `comments:C`. */
export const COMMENTS_NAMESPACE = 'comments';

export type ThreadRow = Selectable<CommentThreadTable>;
export type CommentRow = Selectable<CommentTable>;

/** Who acts: a connection's user, or the backend (with the user it acts for). */
export interface Actor {
  userId: string;
  /** The backend (HTTP API): may edit and delete any comment. */
  backend: boolean;
}

export interface ThreadDraft {
  body: string;
  mentions?: string[] | undefined;
  metadata?: Record<string, unknown> | undefined;
  /** Unix ms. */
  respondBy?: number | undefined;
}

export interface CommentDraft {
  body: string;
  mentions?: string[] | undefined;
}

export function toThreadInfo(row: ThreadRow): ThreadInfo {
  return {
    id: row.id,
    channel: row.channel,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    resolved: Number(row.resolved) === 1,
    resolvedAt: row.resolved_at === null ? null : Number(row.resolved_at),
    resolvedBy: row.resolved_by,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    respondBy: row.respond_by === null ? null : Number(row.respond_by),
    commentCount: Number(row.last_seq),
  };
}

export function toComment(row: CommentRow, reactions: ReactionCount[] = []): Comment {
  return {
    id: row.id,
    threadId: row.thread_id,
    seq: Number(row.seq),
    userId: row.user_id,
    body: row.body,
    mentions: JSON.parse(row.mentions) as string[],
    createdAt: Number(row.created_at),
    editedAt: row.edited_at === null ? null : Number(row.edited_at),
    deletedAt: row.deleted_at === null ? null : Number(row.deleted_at),
    reactions,
  };
}

export function toThread(row: ThreadRow, comments: Comment[]): Thread {
  return { ...toThreadInfo(row), comments };
}
