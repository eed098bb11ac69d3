import { ErrorCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import { type Config, QUOTA_NAMES, type QuotaName, type TenantQuotasConfig, tenantQuotasSchema } from '../config/schema.js';
import type { Engine } from '../engine/engine.js';
import { ReplyError } from '../errors/reply-error.js';
import type { Storage } from '../storage/storage.js';
import { MinuteCounts } from './minute-counts.js';
import { RowCounts, type RowKind } from './row-counts.js';

export type { RowKind } from './row-counts.js';

/** Each quota of a tenant as it applies: a number, or null for no limit. */
export type QuotaLimits = { [K in QuotaName]: number | null };

/** Where a tenant's quotas come from: the config file, the stored ones (HTTP API), and the result. */
export interface QuotaSources {
  tenant: string;
  config: TenantQuotasConfig;
  stored: TenantQuotasConfig;
  effective: QuotaLimits;
}

/** What the quotas need of their node. */
export interface QuotasHost {
  readonly config: Config;
  readonly engine: Pick<Engine, 'limits' | 'messages'>;
  readonly logger: Logger;
  readonly now: () => number;
}

/** Every node reloads a tenant's stored quotas when told (`data`: the tenant). */
const CHANGED_OP = 'kernel:quotas-changed';
/** Stored quotas are read again this often anyway, in case a change message was lost (ms). */
const REFRESH_MS = 30_000;

/**
 * Per-tenant quotas over the global limits: connections (cluster-wide slots), publishes per
 * minute (a tenant-wide token bucket in the engine's limit store), presence members per
 * channel, and rows stored by the notifications and activity features. A quota set over
 * the HTTP API (stored, `sb_tenant_quotas`) wins over the config file's `tenants.<id>.quotas`,
 * key by key; an absent one means the global limit, or none where there is no global limit.
 * A change is stored first, then every node is told over the node messages to read it again
 * (and every node rereads all stored quotas every 30 s, should a message be lost).
 */
export class TenantQuotas {
  #stored = new Map<string, TenantQuotasConfig>();
  #storage: Storage | null = null;
  #timer: NodeJS.Timeout | null = null;
  #unsubscribe: (() => void) | null = null;
  readonly #publishes = new MinuteCounts();
  readonly #rows: RowCounts;

  constructor(private readonly host: QuotasHost) {
    this.#rows = new RowCounts(host.now);
  }

  /** Read the stored quotas and follow changes from other nodes. */
  async start(storage?: Storage): Promise<void> {
    if (!storage) return;
    this.#storage = storage;
    await this.#loadAll();
    this.#unsubscribe = this.host.engine.messages.onNotification(CHANGED_OP, (tenant) => {
      if (typeof tenant === 'string') return this.#reload(tenant);
    });
    this.#timer = setInterval(() => {
      this.#publishes.prune(this.host.now());
      this.#loadAll().catch((err) => this.host.logger.warn({ err }, 'reading tenant quotas failed'));
    }, REFRESH_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#unsubscribe?.();
    this.#timer = null;
  }

  /** A quota as it applies to a tenant: stored, else configured, else the global limit (null: none). */
  limit(tenant: string, name: QuotaName): number | null {
    const own = this.#stored.get(tenant)?.[name] ?? this.#configured(tenant)?.[name];
    if (own !== undefined) return own;
    const l = this.host.config.limits;
    if (name === 'connections') return l.connectionsPerTenant;
    if (name === 'presenceMembers') return l.maxPresenceMembers;
    return null;
  }

  /** The config file's quotas of a tenant (own keys only: a tenant named `__proto__` or `constructor` is a plain id). */
  #configured(tenant: string) {
    const tenants = this.host.config.tenants;
    return Object.hasOwn(tenants, tenant) ? tenants[tenant]?.quotas : undefined;
  }

  connections(tenant: string): number {
    return this.limit(tenant, 'connections') ?? this.host.config.limits.connectionsPerTenant;
  }

  presenceMembers(tenant: string): number {
    return this.limit(tenant, 'presenceMembers') ?? this.host.config.limits.maxPresenceMembers;
  }

  sources(tenant: string): QuotaSources {
    const effective = Object.fromEntries(QUOTA_NAMES.map((n) => [n, this.limit(tenant, n)])) as QuotaLimits;
    return { tenant, config: this.#configured(tenant) ?? {}, stored: this.#stored.get(tenant) ?? {}, effective };
  }

  /** Replace a tenant's stored quotas (an empty set removes them); every node follows. */
  async store(tenant: string, quotas: TenantQuotasConfig): Promise<QuotaSources> {
    const db = this.#db();
    const keys = Object.keys(quotas).filter((k) => quotas[k as QuotaName] !== undefined);
    if (keys.length === 0) {
      await db.deleteFrom('sb_tenant_quotas').where('tenant', '=', tenant).execute();
    } else {
      const row = { tenant, quotas: JSON.stringify(quotas), updated_at: this.host.now() };
      await db
        .insertInto('sb_tenant_quotas')
        .values(row)
        .onConflict((oc) => oc.column('tenant').doUpdateSet({ quotas: row.quotas, updated_at: row.updated_at }))
        .execute();
    }
    this.#set(tenant, keys.length === 0 ? null : quotas);
    await this.host.engine.messages
      .notify(CHANGED_OP, tenant)
      .catch((err) => this.host.logger.warn({ err, tenant }, 'telling other nodes of new quotas failed'));
    return this.sources(tenant);
  }

  /**
   * Take one publish from the tenant's per-minute quota (a bucket shared by every node:
   * a sixth of the quota at once, refilled over the minute); 111 with `retryAfter` when
   * empty. Counted for `GET /stats` either way.
   */
  async spendPublish(tenant: string): Promise<void> {
    const perMinute = this.limit(tenant, 'publishesPerMinute');
    if (perMinute !== null) {
      const burst = Math.max(1, Math.ceil(perMinute / 6));
      const wait = await this.#engineCall(() => this.host.engine.limits.takeOrWait(`tp|${tenant}`, perMinute / 60, burst));
      if (wait > 0) throw new ReplyError(ErrorCode.TooManyRequests, 'publishes per minute of the tenant', wait);
    }
    this.#publishes.add(tenant, this.host.now());
  }

  /** Publishes of the tenant accepted on this node over the last minute. */
  publishesLastMinute(tenant: string): number {
    return this.#publishes.total(tenant, this.host.now());
  }

  /** A feature counts its rows of a tenant with this (a COUNT, asked at most every few seconds). */
  countRowsWith(kind: RowKind, count: (tenant: string) => Promise<number>): void {
    this.#rows.register(kind, count);
  }

  /**
   * Reserve room for `rows` new rows of a tenant, or refuse with 106 when they would pass
   * its quota. Nothing is counted for a tenant without that quota.
   */
  async reserveRows(tenant: string, kind: RowKind, rows: number): Promise<void> {
    const limit = this.limit(tenant, kind);
    if (limit === null) return;
    if (!this.#rows.reserve(tenant, kind, rows, limit, await this.#rows.used(tenant, kind)))
      throw new ReplyError(ErrorCode.LimitExceeded, `${kind} stored: the tenant's quota of ${limit} is reached`);
  }

  /** Correct a reservation by what was really written (merged rows add none). */
  adjustRows(tenant: string, kind: RowKind, delta: number): void {
    this.#rows.adjust(tenant, kind, delta);
  }

  /** Rows of a tenant, as counted for its quota (null when no feature counts that kind). */
  rowsUsed(tenant: string, kind: RowKind): Promise<number | null> {
    return this.#rows.used(tenant, kind);
  }

  async #engineCall<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch {
      throw new ReplyError(ErrorCode.Unavailable, 'publish quota');
    }
  }

  #db() {
    if (!this.#storage) throw new ReplyError(ErrorCode.Unavailable, 'quotas need storage');
    return this.#storage.tables<object>();
  }

  #set(tenant: string, quotas: TenantQuotasConfig | null): void {
    if (quotas) this.#stored.set(tenant, quotas);
    else this.#stored.delete(tenant);
    this.#rows.forget(tenant);
  }

  /** A stored row as quotas; one that does not validate (edited by hand) is logged and ignored. */
  #parse(tenant: string, text: string): TenantQuotasConfig | null {
    try {
      const parsed = tenantQuotasSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
    } catch {}
    this.host.logger.warn({ tenant }, 'stored quotas of a tenant are not valid; the config file applies');
    return null;
  }

  async #reload(tenant: string): Promise<void> {
    const row = await this.#db().selectFrom('sb_tenant_quotas').select('quotas').where('tenant', '=', tenant).executeTakeFirst();
    this.#set(tenant, row ? this.#parse(tenant, row.quotas) : null);
  }

  async #loadAll(): Promise<void> {
    const rows = await this.#db().selectFrom('sb_tenant_quotas').select(['tenant', 'quotas']).execute();
    const next = new Map<string, TenantQuotasConfig>();
    for (const r of rows) {
      const q = this.#parse(r.tenant, r.quotas);
      if (q) next.set(r.tenant, q);
    }
    this.#stored = next;
  }
}
