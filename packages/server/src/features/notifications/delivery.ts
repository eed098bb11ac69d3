import type { NotificationPriority } from '@switchboard/protocol';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import type { Notification } from './model.js';
import type { Delivery, NotificationStore } from './store.js';

/** The personal channel namespace: `user:{sub}` is its owner's only. */
export const USER_NAMESPACE = 'user';

/** What subscribers of `user:{sub}` receive. */
export type NotificationPush = { kind: 'notification'; notification: Notification } | { kind: 'unread'; count: number; unseen: number };

/**
 * Live delivery through the personal channel `user:{sub}`, after the write committed:
 * each new or merged notification that is not muted, then the unread count. Unread counts
 * are coalesced per user and read after the changes that asked for them, so the last count
 * a device receives is the current one.
 */
export class NotificationDelivery {
  #node: NodeContext | null = null;
  #dirty = new Map<string, Set<string>>();
  #running: Promise<void> | null = null;

  constructor(private readonly store: NotificationStore) {}

  attach(node: NodeContext): void {
    this.#node = node;
  }

  /** Push committed notifications (muted ones are not pushed) and refresh their users' counts. */
  async deliver(tenant: string, deliveries: readonly Delivery[]): Promise<void> {
    const node = this.#node;
    if (!node || deliveries.length === 0) return;
    await Promise.all(
      deliveries.map(async (d) => {
        if (!d.muted) await this.#publish(node, tenant, d.notification.user, { kind: 'notification', notification: d.notification }, d.notification.priority);
      }),
    );
    this.changed(
      tenant,
      deliveries.map((d) => d.notification.user),
    );
  }

  /** The read/unread state of these users changed: push their counts soon. */
  changed(tenant: string, users: Iterable<string>): void {
    let set = this.#dirty.get(tenant);
    if (!set) {
      set = new Set();
      this.#dirty.set(tenant, set);
    }
    for (const u of users) set.add(u);
    this.#schedule();
  }

  /** Resolves when every count asked for so far has been pushed. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #schedule(): void {
    if (this.#running) return;
    this.#running = this.#flushAll()
      .catch((err) => this.#node?.logger.warn({ err }, 'unread count push failed'))
      .finally(() => {
        this.#running = null;
        if (this.#dirty.size > 0) this.#schedule();
      });
  }

  async #flushAll(): Promise<void> {
    // One turn of the event loop lets a burst of changes share one count query.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.#dirty.size > 0) {
      const batch = this.#dirty;
      this.#dirty = new Map();
      for (const [tenant, users] of batch) {
        const counts = await this.store.unreadCounts(tenant, [...users]);
        const node = this.#node;
        if (!node) return;
        await Promise.all([...counts].map(([user, c]) => this.#publish(node, tenant, user, { kind: 'unread', count: c.count, unseen: c.unseen })));
      }
    }
  }

  /** A notification's push goes at its own priority (a critical one overtakes routine frames on a congested connection). */
  async #publish(node: NodeContext, tenant: string, user: string, push: NotificationPush, priority: NotificationPriority = 'normal'): Promise<void> {
    let ch: ResolvedChannel;
    try {
      ch = node.resolve(tenant, `${USER_NAMESPACE}:${user}`);
    } catch {
      return; // no `user` namespace, or a user id that cannot name a channel: stored, not pushed
    }
    try {
      await node.publish(ch, JSON.stringify(push), priority === 'normal' ? {} : { priority });
    } catch (err) {
      node.logger.warn({ err, channel: ch.channel }, 'notification push failed (stored; the user reads it from the list)');
    }
  }
}
