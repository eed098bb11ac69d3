/** Row types of the comments tables (conventions: storage/tables.ts). Every row carries its tenant. */

export interface CommentThreadTable {
  id: string;
  tenant: string;
  channel: string;
  /** JSON text: an object. */
  metadata: string;
  /** 1 when resolved. */
  resolved: number;
  resolved_at: number | null;
  resolved_by: string | null;
  created_by: string;
  created_at: number;
  updated_at: number;
  respond_by: number | null;
  /** The `seq` of the thread's latest comment: the next one gets `last_seq + 1`, in the same transaction. */
  last_seq: number;
  /** When someone other than its author first replied (cancels the `respond_by` alert). */
  responded_at: number | null;
  /** When the `respond_by` alert was sent: set once, so it is sent once. */
  sla_alerted_at: number | null;
}

/** One top-level metadata entry of a thread, for equality filters. */
export interface CommentThreadMetaTable {
  tenant: string;
  thread_id: string;
  key: string;
  /** SHA-256 (hex) of the value's JSON text. */
  value_hash: string;
}

export interface CommentTable {
  id: string;
  tenant: string;
  thread_id: string;
  seq: number;
  user_id: string;
  body: string;
  /** JSON text: string[]. */
  mentions: string;
  created_at: number;
  edited_at: number | null;
  deleted_at: number | null;
  /** Reaction changes of this comment so far: the order of reaction answers and pushes (latest wins). */
  reaction_version: number;
}

/** One (comment, user, reaction): at most one row each, by the primary key. */
export interface CommentReactionTable {
  tenant: string;
  thread_id: string;
  comment_id: string;
  user_id: string;
  reaction: string;
  created_at: number;
}

/** How far a user has read a thread: the `seq` of the latest comment read (never moves back). */
export interface CommentReceiptTable {
  tenant: string;
  thread_id: string;
  user_id: string;
  seq: number;
  comment_id: string;
  read_at: number;
}

/** Who gets reply notifications of a thread: authors, repliers and mentioned users (1) unless they unsubscribed (0). */
export interface CommentFollowerTable {
  tenant: string;
  thread_id: string;
  user_id: string;
  following: number;
}

export interface CommentTables {
  sb_comment_threads: CommentThreadTable;
  sb_comment_thread_meta: CommentThreadMetaTable;
  sb_comments: CommentTable;
  sb_comment_reactions: CommentReactionTable;
  sb_comment_receipts: CommentReceiptTable;
  sb_comment_followers: CommentFollowerTable;
}
