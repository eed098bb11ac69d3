import type { MetricSubscribeParams, SwitchboardClient } from '@switchboard/client';
import type { Activity, ActivityQuery } from '@switchboard/client/activity';
import type { Notification, NotificationPreferences, UnreadCount } from '@switchboard/client/notifications';
import { ConnectionStore } from './connection.js';
import { ErrorBus } from './errors.js';
import { activity, notifications } from './externals.js';
import { LatestValues } from './latest.js';
import { LiveList } from './live-list.js';
import { LoadedValue } from './loaded-value.js';
import { memo } from './memo.js';
import { MetricStream } from './metric-stream.js';
import { Room } from './room.js';
import { type HookResult, loaded, type Store } from './store.js';

/** Options of `useNotifications`. */
export interface NotificationsOptions {
  /** Only unread notifications (one marked read elsewhere leaves the list). */
  unreadOnly?: boolean;
  /** Only these types. */
  types?: readonly string[];
  /** Page size of the first load and of `loadMore` (default 20). */
  pageSize?: number;
}

/** Filters of `useActivity`: those of `feed.list` without the cursor. */
export type ActivityFilters = Omit<ActivityQuery, 'cursor' | 'limit'> & { pageSize?: number };

/** Everything the hooks share for one client: its rooms, lists and counters. */
export class Registry {
  readonly errors = new ErrorBus();
  readonly connection: ConnectionStore;
  readonly #rooms = new Map<string, Room>();
  readonly #lists = new Map<string, LiveList<{ id: string }>>();
  readonly #latest = new Map<string, LatestValues>();
  readonly #metrics = new Map<string, MetricStream>();
  #unread: Store<HookResult<UnreadCount>> | null = null;
  #preferences: Store<HookResult<NotificationPreferences>> | null = null;

  constructor(readonly client: SwitchboardClient) {
    this.connection = new ConnectionStore(client);
  }

  room(channel: string): Room {
    return memo(this.#rooms, channel, () => new Room(this.client, channel, this.errors));
  }

  /** The latest values per key of a conflated channel, keys read at `path`. */
  latest(channel: string, path: string, history: number): LatestValues {
    return memo(this.#latest, JSON.stringify([channel, path, history]), () => new LatestValues(this.room(channel), path, history, this.errors));
  }

  /** The metric subscription of a query (one per query, shared by every hook with it). */
  metric(query: MetricSubscribeParams): MetricStream {
    return memo(this.#metrics, JSON.stringify(query), () => new MetricStream(this.client, query, this.errors));
  }

  inbox(options: NotificationsOptions): LiveList<Notification> {
    const types = options.types && options.types.length > 0 ? [...options.types].sort() : null;
    const unreadOnly = options.unreadOnly === true;
    const key = `notifications:${JSON.stringify([unreadOnly, types, options.pageSize ?? 20])}`;
    return this.#list(key, () => {
      const inbox = notifications(this.client);
      // One type is filtered by the server; several on the client.
      const type = types?.length === 1 ? types[0] : undefined;
      return new LiveList<Notification>(
        this.client,
        {
          page: async (cursor, limit) => {
            const page = await inbox.list({ unreadOnly, limit, ...(type ? { type } : {}), ...(cursor ? { cursor } : {}) });
            return { items: page.notifications.filter((n) => types === null || types.includes(n.type)), nextCursor: page.nextCursor };
          },
          // A count push follows every change (read elsewhere too): reload what is shown.
          listen: (item, reload) => {
            const offItem = inbox.onNotification(item);
            const offCount = inbox.onUnreadCount(reload);
            return () => {
              offItem();
              offCount();
            };
          },
          matches: (n) => (types === null || types.includes(n.type)) && (!unreadOnly || !n.read),
        },
        options.pageSize ?? 20,
        this.errors,
      );
    });
  }

  feed(scope: string, filters: ActivityFilters): LiveList<Activity> {
    const { pageSize = 20, ...query } = filters;
    const key = `activity:${JSON.stringify([scope, query, pageSize])}`;
    return this.#list(key, () => {
      const feed = activity(this.client, scope);
      return new LiveList<Activity>(
        this.client,
        {
          page: async (cursor, limit) => {
            const page = await feed.list({ ...query, limit, ...(cursor ? { cursor } : {}) });
            return { items: page.activities, nextCursor: page.nextCursor };
          },
          listen: (item, reload) =>
            feed.onActivity((a) => {
              // Text search and time windows are the server's to match: ask it again.
              if (query.q !== undefined || query.until !== undefined) reload();
              else item(a);
            }),
          matches: (a) => (query.actor === undefined || a.actor === query.actor) && (query.verb === undefined || a.verb === query.verb),
        },
        pageSize,
        this.errors,
      );
    });
  }

  unreadCount(): Store<HookResult<UnreadCount>> {
    const inbox = notifications(this.client);
    this.#unread ??= new LoadedValue(
      this.client,
      this.errors,
      () => inbox.unreadCount(),
      (count) => inbox.onUnreadCount((value) => count.store.set(loaded(value))),
    ).store;
    return this.#unread;
  }

  preferences(): Store<HookResult<NotificationPreferences>> {
    const inbox = notifications(this.client);
    this.#preferences ??= new LoadedValue(
      this.client,
      this.errors,
      () => inbox.preferences(),
      () => () => {},
    ).store;
    return this.#preferences;
  }

  #list<T extends { id: string }>(key: string, create: () => LiveList<T>): LiveList<T> {
    return memo(this.#lists, key, create as unknown as () => LiveList<{ id: string }>) as unknown as LiveList<T>;
  }
}

const registries = new WeakMap<SwitchboardClient, Registry>();

/** The registry of a client, made on first use. */
export function registryOf(client: SwitchboardClient): Registry {
  return memo(registries, client, () => new Registry(client));
}
