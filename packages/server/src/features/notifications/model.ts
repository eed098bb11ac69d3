import {
  NOTIFICATION_PRIORITIES,
  type Notification,
  type NotificationActor,
  type NotificationPreferences,
  type NotificationPriority,
  type UnreadCount,
} from '@switchboard/protocol';
import type { Selectable } from 'kysely';
import type { NotificationPreferenceTable, NotificationTable } from './tables.js';

export type { Notification } from '@switchboard/protocol';

/** Priorities, lowest first; stored as their index. `critical` ignores mutes. */
export const PRIORITIES = NOTIFICATION_PRIORITIES;
export type Priority = NotificationPriority;

/** Types the product ships with; the set is open (any `[a-z][a-z0-9_.-]*` name). */
export const DEFAULT_TYPES = ['mention', 'message', 'approval', 'alert', 'post_published', 'post_failed', 'crisis', 'review', 'system', 'performance'] as const;

/** Who caused a notification. */
export type Actor = NotificationActor;

/** What the backend (or a client, where allowed) says when it creates a notification. */
export interface NotificationInput {
  type: string;
  title: string;
  body?: string | undefined;
  data?: unknown;
  link?: string | undefined;
  priority: Priority;
  category?: string | undefined;
  actor?: Actor | undefined;
  resource?: string | undefined;
  groupKey?: string | undefined;
}

export type Preferences = NotificationPreferences;

export type UnreadCounts = UnreadCount;

export const DEFAULT_PREFERENCES: Readonly<Preferences> = Object.freeze({ mutedTypes: [], mutedCategories: [], minPriority: 'low' });

/** Actors kept on a merged notification; `actorCount` keeps counting beyond. */
export const MAX_ACTORS = 10;

export const priorityRank = (p: Priority): number => PRIORITIES.indexOf(p);
export const priorityOf = (rank: number): Priority => PRIORITIES[rank] ?? 'normal';

export function toNotification(row: Selectable<NotificationTable>): Notification {
  const actors = JSON.parse(row.actors) as Actor[];
  return {
    id: row.id,
    user: row.user_id,
    type: row.type,
    title: row.title,
    body: row.body,
    data: row.data === null ? null : (JSON.parse(row.data) as unknown),
    link: row.link,
    priority: priorityOf(row.priority),
    category: row.category,
    actor: actors[0] ?? null,
    actors,
    actorCount: row.actor_count,
    count: row.count,
    resource: row.resource,
    groupKey: row.group_key,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    read: row.read_at !== null,
    readAt: row.read_at,
    seen: row.seen_at !== null,
    seenAt: row.seen_at,
    archived: row.archived_at !== null,
    archivedAt: row.archived_at,
  };
}

export function toPreferences(row: Selectable<NotificationPreferenceTable> | undefined): Preferences {
  if (!row) return { ...DEFAULT_PREFERENCES, mutedTypes: [], mutedCategories: [] };
  return {
    mutedTypes: JSON.parse(row.muted_types) as string[],
    mutedCategories: JSON.parse(row.muted_categories) as string[],
    minPriority: priorityOf(row.min_priority),
  };
}

/** Muted notifications are stored but not pushed; `critical` ignores every mute. */
export function isMuted(prefs: Preferences, n: { type: string; category: string | null; priority: Priority }): boolean {
  if (n.priority === 'critical') return false;
  if (prefs.mutedTypes.includes(n.type)) return true;
  if (n.category !== null && prefs.mutedCategories.includes(n.category)) return true;
  return priorityRank(n.priority) < priorityRank(prefs.minPriority);
}
