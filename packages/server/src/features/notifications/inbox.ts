import { ErrorCode } from '@switchboard/protocol';
import type { NodeContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import { storageCall } from '../../storage/failures.js';
import type { NotificationsConfig } from './config.js';
import { NotificationDelivery } from './delivery.js';
import type { NotificationInput, Preferences, UnreadCounts } from './model.js';
import type { CreateResult, ListQuery, NotificationStore, Page } from './store.js';

export interface CreateOptions {
  /** The key as stored: `api:<key>` or `user:<sub>:<key>`. */
  idempotencyKey?: string | undefined;
}

/** The tenant's quota of stored notifications (none in tests that build an Inbox alone). */
export type RowQuota = Pick<NodeContext['quotas'], 'reserveRows' | 'adjustRows'>;

/**
 * The inbox operations shared by the HTTP routes (backend, any user of the tenant) and
 * the client commands (the connection's own user only): write first, then push.
 */
export class Inbox {
  readonly delivery: NotificationDelivery;

  constructor(
    readonly store: NotificationStore,
    /** The `notifications` config section. */
    readonly config: () => NotificationsConfig,
    private readonly onStorageDown: (err: unknown) => void,
    private readonly quota: RowQuota | null = null,
  ) {
    this.delivery = new NotificationDelivery(store);
  }

  /** A store call; an unreachable or busy store answers Unavailable (retry), not Internal. */
  #store<T>(op: Promise<T>): Promise<T> {
    return storageCall(op, this.onStorageDown);
  }

  /** Refuse a `data` value larger than configured, before anything is written. */
  checkData(data: unknown): void {
    if (data === undefined) return;
    const max = this.config().maxDataBytes;
    if (Buffer.byteLength(JSON.stringify(data)) > max) throw new ReplyError(ErrorCode.PayloadTooLarge, `data larger than ${max} bytes`);
  }

  async create(tenant: string, recipients: readonly string[] | 'everyone', input: NotificationInput, options: CreateOptions = {}): Promise<CreateResult> {
    this.checkData(input.data);
    // Room for a row per recipient is reserved first (one for `everyone`: refused once at the quota).
    const reserved = recipients === 'everyone' ? 1 : recipients.length;
    if (this.quota) await this.#store(this.quota.reserveRows(tenant, 'notifications', reserved));
    let created: Awaited<ReturnType<NotificationStore['create']>>;
    try {
      created = await this.#store(
        this.store.create({
          tenant,
          recipients,
          input,
          groupWindow: this.config().groupWindow,
          ...(options.idempotencyKey !== undefined ? { idempotencyKey: options.idempotencyKey } : {}),
        }),
      );
    } catch (err) {
      this.quota?.adjustRows(tenant, 'notifications', -reserved);
      throw err;
    }
    const { result, deliveries } = created;
    this.quota?.adjustRows(tenant, 'notifications', deliveries.filter((d) => !d.merged).length - reserved);
    await this.delivery.deliver(tenant, deliveries);
    return result;
  }

  list(tenant: string, user: string, query: Omit<ListQuery, 'limit'> & { limit?: number | undefined }): Promise<Page> {
    const max = this.config().pageSize;
    return this.#store(this.store.list(tenant, user, { ...query, limit: Math.min(query.limit ?? Math.min(50, max), max) }));
  }

  unreadCount(tenant: string, user: string): Promise<UnreadCounts> {
    return this.#store(this.store.unreadCount(tenant, user));
  }

  async markRead(tenant: string, user: string, id: string): Promise<void> {
    if (await this.#store(this.store.markRead(tenant, user, id))) this.delivery.changed(tenant, [user]);
  }

  async markAllRead(tenant: string, user: string): Promise<{ updated: number }> {
    const updated = await this.#store(this.store.markAllRead(tenant, user));
    if (updated > 0) this.delivery.changed(tenant, [user]);
    return { updated };
  }

  async markAllSeen(tenant: string, user: string): Promise<{ updated: number }> {
    const updated = await this.#store(this.store.markAllSeen(tenant, user));
    if (updated > 0) this.delivery.changed(tenant, [user]);
    return { updated };
  }

  async archive(tenant: string, user: string, id: string): Promise<void> {
    if (await this.#store(this.store.archive(tenant, user, id))) this.delivery.changed(tenant, [user]);
  }

  preferences(tenant: string, user: string): Promise<Preferences> {
    return this.#store(this.store.preferences(tenant, user));
  }

  setPreferences(tenant: string, user: string, patch: Partial<Preferences>): Promise<Preferences> {
    return this.#store(this.store.setPreferences(tenant, user, patch));
  }
}
