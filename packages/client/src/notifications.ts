import type { Notification, NotificationPreferences, NotificationPriority, UnreadCount } from '@switchboard/protocol';
import { Emitter } from './emitter.js';
import type { ClientModule, FeatureHost } from './feature-module.js';

export type { Notification, NotificationActor, NotificationPreferences, NotificationPriority, UnreadCount } from '@switchboard/protocol';

/**
 * The notifications inbox of the connected user: list, counts, read state, preferences,
 * and live pushes on the personal channel `user:{sub}`. Server side: docs/notifications.md.
 */

/** What the inbox needs from the client. */
export type NotificationsHost = Omit<FeatureHost, 'use'>;

const notificationsModule: ClientModule<Notifications> = { key: 'notifications', create: (host) => new Notifications(host) };

/**
 * The connected user's notifications inbox (one per client).
 *
 * @example
 * import { notifications } from '@switchboard/client/notifications';
 * const inbox = notifications(client);
 * inbox.onNotification((n) => toast(n.title));
 * const { count } = await inbox.unreadCount();
 */
export function notifications(client: FeatureHost): Notifications {
  return client.use(notificationsModule);
}

export interface NotificationQuery {
  /** Only unread ones. */
  unreadOnly?: boolean;
  /** Archived ones instead of the inbox. */
  archived?: boolean;
  type?: string;
  /** Created at or after: Unix ms or an ISO 8601 date. */
  since?: number | string;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Page size (default 50, at most the server's `notifications.pageSize`). */
  limit?: number;
}

export interface NotificationPage<D = unknown> {
  notifications: Notification<D>[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** What a client may create, where the server allows it (`notifications.clientCreate`). */
export interface NotificationDraft {
  type: string;
  title: string;
  body?: string;
  data?: unknown;
  link?: string;
  priority?: Exclude<NotificationPriority, 'critical'>;
  category?: string;
  resource?: string;
  groupKey?: string;
  idempotencyKey?: string;
}

/** What `create` answers: the notification made (or merged) for the recipient. */
export interface NotificationCreated {
  count: number;
  notifications: Array<{ id: string; user: string; merged: boolean; pushed: boolean }>;
}

interface InboxEvents {
  notification: Notification;
  unread: UnreadCount;
}

class InboxEmitter extends Emitter<InboxEvents> {
  fire<K extends keyof InboxEvents>(event: K, payload: InboxEvents[K]): void {
    this.emit(event, payload);
  }
}

type Push = { kind: 'notification'; notification: Notification } | ({ kind: 'unread' } & UnreadCount);

function isPush(data: unknown): data is Push {
  return typeof data === 'object' && data !== null && ((data as Push).kind === 'notification' || (data as Push).kind === 'unread');
}

/**
 * The connected user's notifications. Every call acts on the token's own user and tenant.
 *
 * @example
 * const inbox = new Notifications(client);
 * inbox.onUnreadCount(({ count }) => setBadge(count));
 * inbox.onNotification((n) => toast(n.title));
 * const { notifications } = await inbox.list({ unreadOnly: true });
 */
export class Notifications {
  readonly #host: NotificationsHost;
  readonly #events = new InboxEmitter();
  #listening = false;

  constructor(host: NotificationsHost) {
    this.#host = host;
  }

  /**
   * A page of notifications, newest first.
   *
   * @example
   * let page = await inbox.list({ limit: 20 });
   * if (page.nextCursor) page = await inbox.list({ limit: 20, cursor: page.nextCursor });
   */
  list<D = unknown>(query: NotificationQuery = {}): Promise<NotificationPage<D>> {
    return this.#host.call<NotificationPage<D>>('notifications.list', query);
  }

  /**
   * The unread and unseen counts now (live changes arrive through `onUnreadCount`).
   *
   * @example
   * const { count } = await inbox.unreadCount();
   */
  unreadCount(): Promise<UnreadCount> {
    return this.#host.call<UnreadCount>('notifications.unread_count', {});
  }

  /**
   * Mark one notification read. An id that is not this user's rejects with NotFound (117).
   *
   * @example
   * await inbox.markRead(n.id);
   */
  async markRead(id: string): Promise<void> {
    await this.#host.call('notifications.mark_read', { id });
  }

  /**
   * Mark every notification read.
   *
   * @example
   * const { updated } = await inbox.markAllRead();
   */
  markAllRead(): Promise<{ updated: number }> {
    return this.#host.call<{ updated: number }>('notifications.mark_all_read', {});
  }

  /**
   * Mark every notification seen (call it when the inbox is opened); `unseen` drops to 0.
   *
   * @example
   * bell.addEventListener('click', () => void inbox.markSeen());
   */
  markSeen(): Promise<{ updated: number }> {
    return this.#host.call<{ updated: number }>('notifications.mark_seen', {});
  }

  /**
   * Archive one notification: it leaves the inbox (see `list({ archived: true })`).
   *
   * @example
   * await inbox.archive(n.id);
   */
  async archive(id: string): Promise<void> {
    await this.#host.call('notifications.archive', { id });
  }

  /**
   * This user's preferences.
   *
   * @example
   * const { mutedTypes } = await inbox.preferences();
   */
  preferences(): Promise<NotificationPreferences> {
    return this.#host.call<NotificationPreferences>('notifications.preferences.get', {});
  }

  /**
   * Change some preferences; the others stay. Resolves with all of them.
   *
   * @example
   * await inbox.setPreferences({ mutedTypes: ['review'], minPriority: 'normal' });
   */
  setPreferences(patch: Partial<NotificationPreferences>): Promise<NotificationPreferences> {
    return this.#host.call<NotificationPreferences>('notifications.preferences.set', patch);
  }

  /**
   * Notify another user (a mention), where the server allows clients to: the type must be
   * in `notifications.clientTypes` and the token needs `publish` on `user:{recipient}`.
   *
   * @example
   * await inbox.create('ann', { type: 'mention', title: 'Bob mentioned you', link: '/doc/7#c3' });
   */
  create(user: string, draft: NotificationDraft): Promise<NotificationCreated> {
    return this.#host.call<NotificationCreated>('notifications.create', { ...draft, user });
  }

  /**
   * Every new or merged notification pushed to this user (muted ones are not pushed).
   * A merged one arrives again with the same id and a higher `count`: replace it.
   *
   * @example
   * const off = inbox.onNotification((n) => upsert(n.id, n));
   * off();
   */
  onNotification<D = unknown>(listener: (n: Notification<D>) => void): () => void {
    this.#listen();
    return this.#events.on('notification', listener as (n: Notification) => void);
  }

  /**
   * The unread count, pushed after every change (new, merged, read, archived). Bursts may
   * share one push; the last one is always current.
   *
   * @example
   * inbox.onUnreadCount(({ count }) => { document.title = count ? `(${count}) App` : 'App'; });
   */
  onUnreadCount(listener: (c: UnreadCount) => void): () => void {
    this.#listen();
    return this.#events.on('unread', listener);
  }

  /** Subscribe to `user:{sub}` once the user is known. */
  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    const start = (user: string) => {
      this.#host.subscribe(`user:${user}`).on('publication', (p) => {
        if (!isPush(p.data)) return;
        if (p.data.kind === 'notification') this.#events.fire('notification', p.data.notification);
        else this.#events.fire('unread', { count: p.data.count, unseen: p.data.unseen });
      });
    };
    const session = this.#host.session;
    if (session) start(session.user);
    else this.#host.once('connected', (e) => start(e.user));
  }
}
