import { ErrorCode } from '@switchboard/protocol';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { ReplyError } from '../../errors/reply-error.js';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import type { FeatureMessages } from '../scoped-engine.js';
import type { Clock } from './buckets.js';
import { type MetricsConfig, type SeriesDeclaration, seriesDeclaration } from './config.js';
import type { MetricTables } from './tables.js';

type Db = Kysely<SharedTables & MetricTables>;

/** A series a tenant declared over HTTP, as the routes show it. */
export interface DeclaredSeries {
  name: string;
  /** The declaration as it was sent (durations as given). */
  declaration: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

interface Entry {
  decl: SeriesDeclaration;
  row: DeclaredSeries;
}

/** How long a name found in no row is not looked up again (ms on the node's clock), unless a change is announced. */
const MISS_TTL_MS = 1000;
/** Names remembered as missing, at most (then forgotten at once): a flood of unknown names costs no memory. */
const MAX_MISSES = 10_000;
/** Names one ingest looks up, at most (a batch naming more unknown series is refused by the first ones). */
const MAX_LOOKUPS = 500;
/** The node message a change is announced with: `{tenant, name}`. */
const CHANGED = 'series-changed';

/** Told when a tenant's series was declared anew (`decl`) or deleted (undefined), on this node. */
export type SeriesListener = (tenant: string, name: string, decl: SeriesDeclaration | undefined) => void;

function parsed(text: string): { decl: SeriesDeclaration; input: Record<string, unknown> } | undefined {
  try {
    const input = JSON.parse(text) as Record<string, unknown>;
    const result = seriesDeclaration.safeParse(input);
    return result.success ? { decl: result.data, input } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The series tenants declare over HTTP (`PUT /api/v1/metrics/series/{name}`), stored in
 * `sb_metric_series` so they survive a restart and reach every node: each node loads them at
 * start and again every `seriesRefresh`, a change is announced to every node at once (node
 * messages), and an ingest naming a series this node has not seen looks it up in storage
 * first (`ensure`), so a declaration made through another node is usable at once. Lookups
 * (`lookup`) are synchronous, from memory.
 */
export class SeriesRegistry {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #config: () => MetricsConfig;
  readonly #logger: Logger;
  readonly #byTenant = new Map<string, Map<string, Entry>>();
  /** `tenant\0name` → when storage last had no such row. */
  readonly #misses = new Map<string, number>();
  readonly #listeners: SeriesListener[] = [];
  #messages: FeatureMessages | null = null;

  constructor(storage: Storage, clock: Clock, config: () => MetricsConfig, logger: Logger) {
    this.#db = storage.tables<MetricTables>();
    this.#clock = clock;
    this.#config = config;
    this.#logger = logger;
  }

  /** Announce changes to, and hear them from, the other nodes. */
  connect(messages: FeatureMessages): void {
    this.#messages = messages;
    messages.onNotification(CHANGED, async (data) => {
      const { tenant, name } = (data ?? {}) as { tenant?: unknown; name?: unknown };
      if (typeof tenant === 'string' && typeof name === 'string') await this.#reload(tenant, [name]);
    });
  }

  onChange(listener: SeriesListener): void {
    this.#listeners.push(listener);
  }

  /** A series the tenant declared, from memory. */
  lookup(tenant: string, name: string): SeriesDeclaration | undefined {
    return this.#byTenant.get(tenant)?.get(name)?.decl;
  }

  /** Loads, from storage, the names this node does not know yet (an ingest calls it for the names of its batch). */
  async ensure(tenant: string, names: Iterable<string>): Promise<void> {
    const now = this.#clock.now();
    const unknown = [...new Set(names)].filter((n) => {
      if (this.lookup(tenant, n)) return false;
      const missed = this.#misses.get(`${tenant}\0${n}`);
      return missed === undefined || now - missed >= MISS_TTL_MS || now < missed;
    });
    if (unknown.length > 0) await this.#reload(tenant, unknown.slice(0, MAX_LOOKUPS));
  }

  /** Every tenant's declarations, from storage (at start and every `seriesRefresh`). */
  async refresh(): Promise<void> {
    const rows = await this.#db.selectFrom('sb_metric_series').selectAll().execute();
    const seen = new Set<string>();
    for (const r of rows) {
      seen.add(`${r.tenant}\0${r.name}`);
      this.#set(r.tenant, r.name, r.declaration, Number(r.created_at), Number(r.updated_at));
    }
    for (const [tenant, names] of this.#byTenant) for (const name of names.keys()) if (!seen.has(`${tenant}\0${name}`)) this.#drop(tenant, name);
    this.#misses.clear();
  }

  async #reload(tenant: string, names: string[]): Promise<void> {
    const rows = await this.#db.selectFrom('sb_metric_series').selectAll().where('tenant', '=', tenant).where('name', 'in', names).execute();
    const now = this.#clock.now();
    for (const name of names) {
      const r = rows.find((x) => x.name === name);
      if (r) {
        this.#misses.delete(`${tenant}\0${name}`);
        this.#set(tenant, name, r.declaration, Number(r.created_at), Number(r.updated_at));
      } else {
        if (this.#misses.size >= MAX_MISSES) this.#misses.clear();
        this.#misses.set(`${tenant}\0${name}`, now);
        this.#drop(tenant, name);
      }
    }
  }

  #set(tenant: string, name: string, text: string, createdAt: number, updatedAt: number): void {
    const current = this.#byTenant.get(tenant)?.get(name);
    if (current && current.row.updatedAt === updatedAt && JSON.stringify(current.row.declaration) === text) return;
    const found = parsed(text);
    if (!found) {
      this.#logger.warn({ tenant, series: name }, 'a stored metric series declaration is not valid; ignored');
      return;
    }
    const names = this.#byTenant.get(tenant) ?? new Map<string, Entry>();
    names.set(name, { decl: found.decl, row: { name, declaration: found.input, createdAt, updatedAt } });
    this.#byTenant.set(tenant, names);
    for (const l of this.#listeners) l(tenant, name, found.decl);
  }

  #drop(tenant: string, name: string): void {
    const names = this.#byTenant.get(tenant);
    if (!names?.delete(name)) return;
    if (names.size === 0) this.#byTenant.delete(tenant);
    for (const l of this.#listeners) l(tenant, name, undefined);
  }

  /** A tenant's declared series, by name. */
  async list(tenant: string): Promise<DeclaredSeries[]> {
    const rows = await this.#db.selectFrom('sb_metric_series').selectAll().where('tenant', '=', tenant).orderBy('name').execute();
    return rows.flatMap((r) => {
      const found = parsed(r.declaration);
      return found ? [{ name: r.name, declaration: found.input, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) }] : [];
    });
  }

  async get(tenant: string, name: string): Promise<DeclaredSeries | undefined> {
    await this.#reload(tenant, [name]);
    return this.#byTenant.get(tenant)?.get(name)?.row;
  }

  /**
   * Declare (or change) a tenant's series: 400 for a declaration that is not valid, 154 for
   * another kind than the stored one, 155 beyond `maxDeclaredSeries`. Stored, then announced.
   */
  async put(tenant: string, name: string, input: unknown): Promise<{ series: DeclaredSeries; created: boolean }> {
    const result = seriesDeclaration.safeParse(input);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new ReplyError(ErrorCode.BadRequest, `body${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}`);
    }
    const text = JSON.stringify(input);
    const now = this.#clock.now();
    const max = this.#config().maxDeclaredSeries;
    const created = await this.#db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('sb_metric_series')
        .select(['declaration'])
        .where('tenant', '=', tenant)
        .where('name', '=', name)
        .executeTakeFirst();
      if (existing) {
        const before = parsed(existing.declaration);
        if (before && before.decl.kind !== result.data.kind)
          throw new ReplyError(ErrorCode.SeriesKindConflict, `${name} is a ${before.decl.kind}; delete it before declaring it a ${result.data.kind}`);
        await trx.updateTable('sb_metric_series').set({ declaration: text, updated_at: now }).where('tenant', '=', tenant).where('name', '=', name).execute();
        return false;
      }
      const held = await trx
        .selectFrom('sb_metric_series')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('tenant', '=', tenant)
        .executeTakeFirst();
      if (Number(held?.n ?? 0) >= max) throw new ReplyError(ErrorCode.SeriesDeclarationLimit, `the tenant declares ${max} series`);
      await trx.insertInto('sb_metric_series').values({ tenant, name, declaration: text, created_at: now, updated_at: now }).execute();
      return true;
    });
    await this.#reload(tenant, [name]);
    await this.#announce(tenant, name);
    const row = this.#byTenant.get(tenant)?.get(name)?.row;
    return { series: row ?? { name, declaration: input as Record<string, unknown>, createdAt: now, updatedAt: now }, created };
  }

  /** Delete a tenant's series with its stored minutes (in one transaction); false when it has none of that name. */
  async remove(tenant: string, name: string): Promise<boolean> {
    const removed = await this.#db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('sb_metric_series').where('tenant', '=', tenant).where('name', '=', name).executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) return false;
      await trx.deleteFrom('sb_metric_minutes').where('tenant', '=', tenant).where('series', '=', name).execute();
      return true;
    });
    if (!removed) return false;
    await this.#reload(tenant, [name]);
    await this.#announce(tenant, name);
    return true;
  }

  async #announce(tenant: string, name: string): Promise<void> {
    try {
      await this.#messages?.notify(CHANGED, { tenant, name });
    } catch (err) {
      // The other nodes still see it at their next refresh, or when an ingest looks it up.
      this.#logger.warn({ err }, 'a metric series change was not announced to the other nodes');
    }
  }
}
