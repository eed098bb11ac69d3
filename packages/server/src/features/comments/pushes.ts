import type { Comment, ReactionCount, Thread, ThreadInfo } from './model.js';

/**
 * What subscribers of `comments:{channel}` receive, each after its write committed. A thread
 * push carries the whole thread when created and the thread without comments otherwise.
 */
export type CommentPush =
  | { kind: 'thread'; action: 'created'; thread: Thread }
  | { kind: 'thread'; action: 'updated' | 'resolved' | 'reopened' | 'deleted'; thread: ThreadInfo }
  | { kind: 'comment'; action: 'created' | 'edited' | 'deleted'; threadId: string; comment: Comment }
  | { kind: 'reaction'; threadId: string; commentId: string; reactions: ReactionCount[]; version: number }
  | { kind: 'receipt'; threadId: string; userId: string; commentId: string; seq: number; readAt: number }
  | { kind: 'typing'; threadId: string; userId: string };
