import type { Activity } from '@switchboard/protocol';
import { Emitter } from './emitter.js';
import type { FeatureHost } from './feature-module.js';

export type { Activity } from '@switchboard/protocol';

/**
 * Activity feeds: what happened in a scope (`project:42`), queried with filters and
 * cursors, and live on the channel `activity:{scope}`. Server side: docs/activity.md.
 */

/** What a feed needs from the client. */
export type ActivityHost = Pick<FeatureHost, 'call' | 'subscribe'>;

/**
 * The activity feed of a scope such as `project:42` (one per client and scope).
 *
 * @example
 * import { activity } from '@switchboard/client/activity';
 * const feed = activity(client, 'project:42');
 * feed.onActivity((a) => prepend(a));
 */
export function activity(client: FeatureHost, scope: string): ActivityFeed {
  return client.use({ key: `activity:${scope}`, create: (host) => new ActivityFeed(host, scope) });
}

export interface ActivityQuery {
  /**
   * Words to find in the verb, actor, object, target, grouped objects and strings of `data`:
   * every word must match, the last one also as a prefix (`'uber pl'`). At most 200 characters.
   */
  q?: string;
  actor?: string;
  verb?: string;
  /** From this time (inclusive): Unix ms or an ISO 8601 date. */
  since?: number | string;
  /** Before this time (exclusive). */
  until?: number | string;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Page size (default 50, at most the server's `activity.pageSize`). */
  limit?: number;
}

export interface ActivityPage<D = unknown> {
  activities: Activity<D>[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** What a client records; the actor is always the connected user, the time is now. */
export interface ActivityDraft {
  verb: string;
  object?: string;
  target?: string;
  data?: unknown;
  idempotencyKey?: string;
}

/** What `record` answers: the activity stored (or the one it was grouped into). */
export interface ActivityRecorded {
  activity: Activity;
  merged: boolean;
  /** The idempotency key was seen before: nothing new was recorded. */
  deduplicated?: true;
}

interface FeedEvents {
  activity: Activity;
}

class FeedEmitter extends Emitter<FeedEvents> {
  fire(activity: Activity): void {
    this.emit('activity', activity);
  }
}

function isActivityPush(data: unknown): data is { kind: 'activity'; activity: Activity } {
  return typeof data === 'object' && data !== null && (data as { kind?: unknown }).kind === 'activity';
}

/**
 * The activity feed of one scope. Reading it needs the subscribe permission on the scope
 * itself (the token's capability for `project:42`, say); recording needs publish.
 *
 * @example
 * const feed = activity(client, 'project:42');
 * const { activities } = await feed.list({ verb: 'commented', limit: 20 });
 * feed.onActivity((a) => prepend(a));
 */
export class ActivityFeed {
  readonly #host: ActivityHost;
  readonly #events = new FeedEmitter();
  #listening = false;

  constructor(
    host: ActivityHost,
    readonly scope: string,
  ) {
    this.#host = host;
  }

  /**
   * A page of the scope's activities, newest first, filtered.
   *
   * @example
   * const page = await feed.list({ actor: 'bob', since: Date.now() - 86_400_000 });
   * const found = await feed.list({ q: 'launch pl' });
   * const older = page.nextCursor ? await feed.list({ cursor: page.nextCursor }) : null;
   */
  list<D = unknown>(query: ActivityQuery = {}): Promise<ActivityPage<D>> {
    return this.#host.call<ActivityPage<D>>('activity.list', { ...query, scope: this.scope });
  }

  /**
   * Record an activity as the connected user (the scope's namespace must allow client
   * publish, and the token needs publish on the scope).
   *
   * @example
   * await feed.record({ verb: 'moved', object: 'card:7', target: 'column:done' });
   */
  record(draft: ActivityDraft): Promise<ActivityRecorded> {
    return this.#host.call<ActivityRecorded>('activity.record', { ...draft, scope: this.scope });
  }

  /**
   * Every activity recorded in the scope from now on (a grouped one arrives again with the
   * same id and a higher `count`: replace it). The live channel keeps no history: after a
   * reconnect, `list()` again to fill the gap.
   *
   * @example
   * const off = feed.onActivity((a) => upsert(a.id, a));
   * off();
   */
  onActivity<D = unknown>(listener: (a: Activity<D>) => void): () => void {
    if (!this.#listening) {
      this.#listening = true;
      this.#host.subscribe(`activity:${this.scope}`).on('publication', (p) => {
        if (isActivityPush(p.data)) this.#events.fire(p.data.activity);
      });
    }
    return this.#events.on('activity', listener as (a: Activity) => void);
  }
}
