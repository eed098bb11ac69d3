/** Row types of the notifications tables (conventions: storage/tables.ts). */

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

export interface NotificationTables {
  sb_notifications: NotificationTable;
  sb_notification_preferences: NotificationPreferenceTable;
}
