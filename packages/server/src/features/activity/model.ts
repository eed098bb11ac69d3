import type { Activity } from '@switchboard/protocol';
import type { Selectable } from 'kysely';

export type { Activity } from '@switchboard/protocol';

import type { ActivityTable } from './tables.js';

/** The namespace of live activity channels: scope S is live on `activity:S`. */
export const ACTIVITY_NAMESPACE = 'activity';

/** Objects kept on a grouped activity; `count` keeps counting beyond. */
export const MAX_OBJECTS = 20;

/** What the backend (or a client, where the scope's namespace allows) records. */
export interface ActivityInput {
  /** A channel name, e.g. `project:42`: who may read the feed is who may subscribe to it. */
  scope: string;
  actor: string;
  verb: string;
  object?: string | undefined;
  target?: string | undefined;
  data?: unknown;
  /** When it happened, Unix ms (default: now). */
  time?: number | undefined;
}

/** An activity as stored, without its search words. */
export type ActivityRow = Omit<Selectable<ActivityTable>, 'search_text'>;

export function toActivity(row: ActivityRow): Activity {
  return {
    id: row.id,
    scope: row.scope,
    actor: row.actor,
    verb: row.verb,
    object: row.object,
    target: row.target,
    data: row.data === null ? null : (JSON.parse(row.data) as unknown),
    time: row.time,
    lastTime: row.last_time,
    count: row.count,
    objects: JSON.parse(row.objects) as string[],
    createdAt: row.created_at,
  };
}
