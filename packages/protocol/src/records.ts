/**
 * Records the server sends as command results, HTTP bodies and live pushes, shared by the
 * server (which builds them) and the SDK (which hands them to apps): notifications and
 * activities. docs/notifications.md and docs/activity.md describe every field.
 */

/** Notification priorities, lowest first. `critical` ignores mutes. */
export const NOTIFICATION_PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type NotificationPriority = (typeof NOTIFICATION_PRIORITIES)[number];

/** Who caused a notification. */
export interface NotificationActor {
  id: string;
  name?: string;
}

/** One notification, as stored. `count` > 1 when several with one group key were merged. */
export interface Notification<D = unknown> {
  id: string;
  user: string;
  type: string;
  title: string;
  body: string | null;
  data: D | null;
  link: string | null;
  priority: NotificationPriority;
  category: string | null;
  /** The latest actor. */
  actor: NotificationActor | null;
  /** Actors merged into this notification, most recent first (at most 10). */
  actors: NotificationActor[];
  /** Distinct actors merged into this notification ("Ann and 3 others" = 4). */
  actorCount: number;
  /** Notifications merged into this one (1 when never merged). */
  count: number;
  resource: string | null;
  groupKey: string | null;
  createdAt: number;
  updatedAt: number;
  read: boolean;
  readAt: number | null;
  seen: boolean;
  seenAt: number | null;
  archived: boolean;
  archivedAt: number | null;
}

/** A user's notification preferences. */
export interface NotificationPreferences {
  mutedTypes: string[];
  mutedCategories: string[];
  /** Below this priority notifications are stored but not pushed. Critical ones always are. */
  minPriority: NotificationPriority;
}

/** The unread badge of a user's inbox. */
export interface UnreadCount {
  /** Unread and not archived: the badge. */
  count: number;
  /** Not seen since the inbox was last opened, not archived. */
  unseen: number;
}

/** One activity. `count` > 1 when consecutive ones of one actor and verb were grouped. */
export interface Activity<D = unknown> {
  id: string;
  scope: string;
  actor: string;
  verb: string;
  object: string | null;
  target: string | null;
  data: D | null;
  /** When it happened (for a group: its first activity), Unix ms. */
  time: number;
  /** The latest activity merged into this one, Unix ms (equals `time` when never merged). */
  lastTime: number;
  /** Activities merged into this one ("Bob edited 5 nodes" = 5). */
  count: number;
  /** Objects of the merged activities, most recent first (at most 20). */
  objects: string[];
  createdAt: number;
}

/** The reactions a server allows unless configured otherwise (`comments.reactions`). */
export const DEFAULT_REACTIONS = ['like', 'love', 'laugh', 'wow', 'sad', 'angry'] as const;

/** One reaction on a comment: how many users gave it, and who. */
export interface ReactionCount {
  reaction: string;
  /** How many users gave it: always exact. */
  count: number;
  /**
   * Who gave it, in the order they gave it. Complete in reads (threads, comments); in `reaction`
   * pushes and answers to reaction changes only the first `comments.reactionUsers` (default 20):
   * the list is partial when `count > userIds.length`.
   */
  userIds: string[];
}

/** One comment of a thread. A deleted comment stays as a tombstone: `deletedAt` set, `body` empty, no mentions. */
export interface Comment {
  id: string;
  threadId: string;
  /** Position in its thread: 1, 2, 3… without gaps, in the order the server committed them. */
  seq: number;
  userId: string;
  body: string;
  mentions: string[];
  createdAt: number;
  editedAt: number | null;
  deletedAt: number | null;
  reactions: ReactionCount[];
}

/** How far a user has read a thread: everything up to `seq`. It never moves back. */
export interface ReadReceipt {
  userId: string;
  /** The latest comment read. */
  commentId: string;
  seq: number;
  /** When it last moved forward, Unix ms. */
  readAt: number;
}

/** A thread without its comments: what thread pushes and summaries carry. */
export interface ThreadInfo<M = Record<string, unknown>> {
  id: string;
  /** The channel the thread is about, e.g. `project:42`. */
  channel: string;
  metadata: M;
  resolved: boolean;
  resolvedAt: number | null;
  resolvedBy: string | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
  /** Unix ms by which someone other than its author should reply (null: no deadline). */
  respondBy: number | null;
  /** Comments in the thread, tombstones included (the `seq` of the latest). */
  commentCount: number;
  /** Comments the user named by `forUser` (or the connection's user) has not read; present only when asked for. */
  unread?: number;
}

/** A thread with its comments, oldest first. */
export interface Thread<M = Record<string, unknown>> extends ThreadInfo<M> {
  comments: Comment[];
}
