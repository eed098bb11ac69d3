/**
 * Row types of the durable tables, as the query builder sees them. Times are Unix
 * milliseconds (`bigint` columns, read back as numbers on both stores); JSON values are
 * stored as text; flags are integers 0/1, so SQLite and PostgreSQL read the same rows.
 */

/** Users known to a tenant: seen on a connection, or given a notification or preferences. */
export interface UserTable {
  tenant: string;
  user_id: string;
  first_seen: number;
  last_seen: number;
}

export interface NotificationTable {
  id: string;
  tenant: string;
  user_id: string;
  type: string;
  title: string;
  body: string | null;
  /** JSON text. */
  data: string | null;
  link: string | null;
  priority: number;
  category: string | null;
  /** JSON text: the actors of this notification, most recent first (capped). */
  actors: string;
  /** Distinct actors merged into this notification. */
  actor_count: number;
  /** Notifications merged into this one (1 when never merged). */
  count: number;
  resource: string | null;
  group_key: string | null;
  created_at: number;
  updated_at: number;
  read_at: number | null;
  seen_at: number | null;
  archived_at: number | null;
}

export interface NotificationPreferenceTable {
  tenant: string;
  user_id: string;
  /** JSON text: string[] */
  muted_types: string;
  /** JSON text: string[] */
  muted_categories: string;
  min_priority: number;
  updated_at: number;
}

export interface ActivityTable {
  id: string;
  tenant: string;
  scope: string;
  actor: string;
  verb: string;
  object: string | null;
  target: string | null;
  /** JSON text. */
  data: string | null;
  /** When it happened (given by the recorder, or the time it was recorded). */
  time: number;
  /** Latest time merged into a grouped activity (equals `time` when never merged). */
  last_time: number;
  /** Activities merged into this one (1 when never merged). */
  count: number;
  /** JSON text: the objects of merged activities, most recent first (capped). */
  objects: string;
  created_at: number;
}

/** Idempotency keys of create requests: a retried request returns the stored result. */
export interface IdempotencyTable {
  tenant: string;
  scope: string;
  key: string;
  /** JSON text of the first request's result; null while that request is in its transaction. */
  result: string | null;
  created_at: number;
}

export interface Database {
  sb_users: UserTable;
  sb_notifications: NotificationTable;
  sb_notification_preferences: NotificationPreferenceTable;
  sb_activities: ActivityTable;
  sb_idempotency_keys: IdempotencyTable;
}
