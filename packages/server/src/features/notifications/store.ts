import { ErrorCode } from '@switchboard/protocol';
import { CompiledQuery, type Kysely, type Selectable, sql, type Transaction, type UpdateObject } from 'kysely';
import { ReplyError } from '../../errors/reply-error.js';
import { idempotencyKeys } from '../../storage/idempotency.js';
import { newId } from '../../storage/ids.js';
import { KeyedBatches } from '../../storage/keyed-batches.js';
import { type CursorPosition, decodeCursor, pageOf } from '../../storage/paging.js';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import { YoungTableStats } from '../../storage/young-table-stats.js';
import type { NotificationTable, NotificationTables } from './tables.js';

type Database = SharedTables & NotificationTables;

import {
  type Actor,
  isMuted,
  MAX_ACTORS,
  type Notification,
  type NotificationInput,
  type Preferences,
  priorityRank,
  toNotification,
  toPreferences,
  type UnreadCounts,
} from './model.js';

/** The merged rows of a group's batch written together (PostgreSQL): one array per column, a row per index. */
const MERGED_ROWS_SQL = `update sb_notifications as n
set title = v.title, body = v.body, data = v.data, link = v.link, priority = v.priority, count = v.count,
  actors = v.actors, actor_count = v.actor_count, resource = v.resource, updated_at = v.updated_at, seen_at = null
from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::integer[], $8::text[], $9::integer[], $10::text[], $11::bigint[])
  as v(id, title, body, data, link, priority, count, actors, actor_count, resource, updated_at)
where n.id = v.id`;

/** Rows per statement: well under the bound-parameter limits of SQLite and PostgreSQL. */
const CHUNK = 500;

export interface CreateRequest {
  tenant: string;
  /** User ids, or every known user of the tenant. */
  recipients: readonly string[] | 'everyone';
  input: NotificationInput;
  /** Merge into an unread notification with the same group key created within this many ms. */
  groupWindow: number;
  /** The key as the store keeps it: `api:<key>` from the backend, `user:<sub>:<key>` from a client. */
  idempotencyKey?: string;
}

/** Idempotency keys of notifications live in their own scope of the keys table. */
const KEY_SCOPE = 'notifications';

/** What the create request answers (and what a retry with the same key gets again). */
export interface CreateResult {
  count: number;
  notifications: Array<{ id: string; user: string; merged: boolean; pushed: boolean }>;
  deduplicated?: true;
}

export interface Delivery {
  notification: Notification;
  merged: boolean;
  muted: boolean;
}

export interface ListQuery {
  unreadOnly?: boolean | undefined;
  archived?: boolean | undefined;
  type?: string | undefined;
  since?: number | undefined;
  cursor?: string | undefined;
  limit: number;
}

export interface Page {
  notifications: Notification[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

type Row = Selectable<NotificationTable>;

function chunks<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += CHUNK) out.push(list.slice(i, i + CHUNK));
  return out;
}

/** The actor list after `actor` acted again: most recent first, capped; the count counts new ones. */
function mergeActors(row: Row, actor: Actor | undefined): { actors: string; actor_count: number } {
  if (!actor) return { actors: row.actors, actor_count: row.actor_count };
  const list = JSON.parse(row.actors) as Actor[];
  const known = list.some((a) => a.id === actor.id);
  const next = [actor, ...list.filter((a) => a.id !== actor.id)].slice(0, MAX_ACTORS);
  return { actors: JSON.stringify(next), actor_count: row.actor_count + (known ? 0 : 1) };
}

/** The row of a group's notification after one more request merged into it. */
function mergedRow(open: Row, input: NotificationInput, now: number): Row {
  return {
    ...open,
    ...mergeActors(open, input.actor),
    title: input.title,
    body: input.body ?? null,
    data: input.data === undefined ? null : JSON.stringify(input.data),
    link: input.link ?? null,
    priority: Math.max(open.priority, priorityRank(input.priority)),
    count: open.count + 1,
    resource: input.resource ?? open.resource,
    updated_at: now,
    seen_at: null,
  };
}

/** A new notification's row. */
function newRow(tenant: string, user: string, input: NotificationInput, now: number): Row {
  return {
    id: newId('n', now),
    tenant,
    user_id: user,
    type: input.type,
    title: input.title,
    body: input.body ?? null,
    data: input.data === undefined ? null : JSON.stringify(input.data),
    link: input.link ?? null,
    priority: priorityRank(input.priority),
    category: input.category ?? null,
    actors: JSON.stringify(input.actor ? [input.actor] : []),
    actor_count: input.actor ? 1 : 0,
    count: 1,
    resource: input.resource ?? null,
    group_key: input.groupKey ?? null,
    created_at: now,
    updated_at: now,
    read_at: null,
    seen_at: null,
    archived_at: null,
  };
}

/**
 * The notifications inbox in storage. Every write is one transaction; callers publish
 * only what a committed write returns.
 */
export class NotificationStore {
  /** `tenant|user` of users known to be in sb_users: no need to write them again. */
  readonly #known = new Set<string>();
  /** Users waiting for the next batched write (touchUser). */
  readonly #pendingUsers = new Map<string, { tenant: string; user: string }>();
  #usersWrite: Promise<void> | null = null;

  readonly #db: Kysely<Database>;
  /** PostgreSQL: the unread counts of a create are planned from the table's statistics (see YoungTableStats). */
  readonly #stats: YoungTableStats;
  readonly #postgres: boolean;

  constructor(
    storage: Storage,
    private readonly now: () => number = Date.now,
    /** Called in the creating transaction with the new notifications (their `notification.created` events). */
    private readonly onCreated?: (trx: Transaction<Database>, tenant: string, created: readonly Notification[]) => Promise<void>,
    /** Called once a transaction in which `onCreated` ran committed. */
    private readonly onCommitted?: () => void,
  ) {
    this.#db = storage.tables<NotificationTables>();
    this.#postgres = storage.kind === 'postgres';
    this.#stats = new YoungTableStats(storage, 'sb_notifications');
  }

  #remember(tenant: string, users: readonly string[]): void {
    if (this.#known.size + users.length > 200_000) this.#known.clear();
    for (const u of users) this.#known.add(`${tenant}|${u}`);
  }

  /**
   * Create (or merge) one notification per recipient, in one transaction. Grouped requests
   * (a group key and window, a list of recipients, no idempotency key) of one group that
   * arrive together share one transaction, applied in arrival order: each merges into what
   * the one before it wrote, and the group rows are written by one transaction at a time
   * instead of each request waiting on the last one's locks.
   */
  async create(req: CreateRequest): Promise<{ result: CreateResult; deliveries: Delivery[] }> {
    if (req.input.groupKey !== undefined && req.groupWindow > 0 && req.idempotencyKey === undefined && req.recipients !== 'everyone') {
      return this.#grouped.run(`${req.tenant}\u0000${req.input.groupKey}`, req);
    }
    let written: readonly string[] = [];
    const out = await this.#db.transaction().execute(async (trx) => {
      const now = this.now();
      const { tenant, idempotencyKey: key } = req;
      if (key !== undefined) {
        const claim = await idempotencyKeys.claim<CreateResult, Database>(trx, tenant, KEY_SCOPE, key, now);
        if (!claim.first) return { result: { ...claim.result, deduplicated: true as const }, deliveries: [] };
      }
      const step = await this.#createIn(trx, req, now);
      written = step.users;
      if (key !== undefined) await idempotencyKeys.complete(trx, tenant, KEY_SCOPE, key, step.result);
      return { result: step.result, deliveries: step.deliveries };
    });
    this.#remember(req.tenant, written);
    if (out.deliveries.some((d) => !d.merged)) this.onCommitted?.();
    return out;
  }

  readonly #grouped = new KeyedBatches<CreateRequest, { result: CreateResult; deliveries: Delivery[] }>({
    max: 64,
    fits: () => true,
    apply: async (batch) => {
      const tenant = (batch[0] as CreateRequest).tenant;
      const written = new Set<string>();
      const outs = await this.#db.transaction().execute(async (trx) => {
        const steps = await this.#createGrouped(trx, batch);
        for (const step of steps) for (const u of step.users) written.add(u);
        return steps.map((step) => ({ result: step.result, deliveries: step.deliveries }));
      });
      this.#remember(tenant, [...written]);
      if (outs.some((o) => o.deliveries.some((d) => !d.merged))) this.onCommitted?.();
      return outs;
    },
  });

  /** One request's notifications inside `trx`: created or merged, their events emitted. */
  async #createIn(
    trx: Transaction<Database>,
    req: CreateRequest,
    now: number,
  ): Promise<{ result: CreateResult; deliveries: Delivery[]; users: readonly string[] }> {
    const { tenant } = req;
    const users = req.recipients === 'everyone' ? await this.#everyone(trx, tenant) : req.recipients;
    const deliveries: Delivery[] = [];
    for (const chunk of chunks(users)) deliveries.push(...(await this.#createChunk(trx, tenant, chunk, req, now)));
    const created = deliveries.filter((d) => !d.merged).map((d) => d.notification);
    if (this.onCreated && created.length > 0) await this.onCreated(trx, tenant, created);
    const result: CreateResult = {
      count: deliveries.length,
      notifications: deliveries.map((d) => ({ id: d.notification.id, user: d.notification.user, merged: d.merged, pushed: !d.muted })),
    };
    return { result, deliveries, users };
  }

  async #everyone(trx: Transaction<Database>, tenant: string): Promise<string[]> {
    const rows = await trx.selectFrom('sb_users').select('user_id').where('tenant', '=', tenant).orderBy('user_id').execute();
    return rows.map((r) => r.user_id);
  }

  async #createChunk(trx: Transaction<Database>, tenant: string, users: readonly string[], req: CreateRequest, now: number): Promise<Delivery[]> {
    const { input } = req;
    await this.#knowUsers(trx, tenant, users, now);
    const prefs = await this.#preferencesOf(trx, tenant, users);
    const groups =
      input.groupKey !== undefined && req.groupWindow > 0
        ? await this.#openGroups(trx, tenant, users, input.groupKey, now - req.groupWindow)
        : new Map<string, Row>();
    const inserts: Row[] = [];
    const deliveries: Delivery[] = [];
    for (const user of users) {
      const open = groups.get(user);
      const row = open ? mergedRow(open, input, now) : newRow(tenant, user, input, now);
      if (open) await this.#writeMerged(trx, row);
      else inserts.push(row);
      const notification = toNotification(row);
      deliveries.push({ notification, merged: open !== undefined, muted: isMuted(prefs.get(user) ?? toPreferences(undefined), notification) });
    }
    if (inserts.length > 0) {
      await trx.insertInto('sb_notifications').values(inserts).execute();
      this.#stats.grew(inserts.length);
    }
    return deliveries;
  }

  async #writeMerged(trx: Transaction<Database>, row: Row): Promise<void> {
    await trx
      .updateTable('sb_notifications')
      .set({
        title: row.title,
        body: row.body,
        data: row.data,
        link: row.link,
        priority: row.priority,
        count: row.count,
        actors: row.actors,
        actor_count: row.actor_count,
        resource: row.resource,
        updated_at: row.updated_at,
        seen_at: null,
      })
      .where('id', '=', row.id)
      .execute();
  }

  /** Write merged rows: on PostgreSQL all in one statement (one round trip, not one per follower of a thread), on SQLite one each. */
  async #writeMergedRows(trx: Transaction<Database>, rows: readonly Row[]): Promise<void> {
    if (!this.#postgres || rows.length < 2) {
      for (const row of rows) await this.#writeMerged(trx, row);
      return;
    }
    const column = <K extends keyof Row>(k: K) => rows.map((r) => r[k]);
    await trx.executeQuery(
      CompiledQuery.raw(MERGED_ROWS_SQL, [
        column('id'),
        column('title'),
        column('body'),
        column('data'),
        column('link'),
        column('priority'),
        column('count'),
        column('actors'),
        column('actor_count'),
        column('resource'),
        column('updated_at'),
      ]),
    );
  }

  /**
   * A batch of grouped requests of one group (tenant and group key) in one transaction:
   * each request merges, in arrival order, into what the ones before it left (an open
   * group read once, locked, for every recipient of the batch), and each notification row
   * is written once at the end, whatever the number of requests that touched it. Every
   * request gets its own deliveries (the notification as its merge left it) and its own
   * `notification.created` events.
   */
  async #createGrouped(
    trx: Transaction<Database>,
    batch: readonly CreateRequest[],
  ): Promise<Array<{ result: CreateResult; deliveries: Delivery[]; users: readonly string[] }>> {
    const first = batch[0] as CreateRequest;
    const { tenant } = first;
    const groupKey = first.input.groupKey as string;
    const now = this.now();
    const everyone = [...new Set(batch.flatMap((r) => r.recipients as readonly string[]))];
    const rows = new Map<string, { row: Row; stored: boolean; dirty: boolean }>();
    const prefs = new Map<string, Preferences>();
    for (const chunk of chunks(everyone)) {
      await this.#knowUsers(trx, tenant, chunk, now);
      for (const [u, p] of await this.#preferencesOf(trx, tenant, chunk)) prefs.set(u, p);
      for (const [u, row] of await this.#openGroups(trx, tenant, chunk, groupKey, now - first.groupWindow)) rows.set(u, { row, stored: true, dirty: false });
    }
    const steps = batch.map((req) => {
      const deliveries: Delivery[] = [];
      for (const user of req.recipients as readonly string[]) {
        const open = rows.get(user);
        const row = open ? mergedRow(open.row, req.input, now) : newRow(tenant, user, req.input, now);
        if (open) {
          open.row = row;
          open.dirty = true;
        } else rows.set(user, { row, stored: false, dirty: false });
        const notification = toNotification(row);
        deliveries.push({ notification, merged: open !== undefined, muted: isMuted(prefs.get(user) ?? toPreferences(undefined), notification) });
      }
      const result: CreateResult = {
        count: deliveries.length,
        notifications: deliveries.map((d) => ({ id: d.notification.id, user: d.notification.user, merged: d.merged, pushed: !d.muted })),
      };
      return { result, deliveries, users: req.recipients as readonly string[] };
    });
    const inserts = [...rows.values()].filter((r) => !r.stored).map((r) => r.row);
    for (const chunk of chunks(inserts)) await trx.insertInto('sb_notifications').values(chunk).execute();
    this.#stats.grew(inserts.length);
    await this.#writeMergedRows(
      trx,
      [...rows.values()].filter((r) => r.stored && r.dirty).map((r) => r.row),
    );
    if (this.onCreated) {
      for (const step of steps) {
        const created = step.deliveries.filter((d) => !d.merged).map((d) => d.notification);
        if (created.length > 0) await this.onCreated(trx, tenant, created);
      }
    }
    return steps;
  }

  /** Add the users not known to be in sb_users yet. */
  async #knowUsers(trx: Transaction<Database>, tenant: string, users: readonly string[], now: number): Promise<void> {
    const unknown = users.filter((u) => !this.#known.has(`${tenant}|${u}`));
    if (unknown.length === 0) return;
    await trx
      .insertInto('sb_users')
      .values(unknown.map((user_id) => ({ tenant, user_id, first_seen: now, last_seen: now })))
      .onConflict((oc) => oc.columns(['tenant', 'user_id']).doNothing())
      .execute();
  }

  async #preferencesOf(trx: Transaction<Database>, tenant: string, users: readonly string[]): Promise<Map<string, Preferences>> {
    const rows = await trx.selectFrom('sb_notification_preferences').selectAll().where('tenant', '=', tenant).where('user_id', 'in', users).execute();
    return new Map(rows.map((r) => [r.user_id, toPreferences(r)]));
  }

  /** Per user, the newest unread, unarchived notification of the group created since `from`. */
  async #openGroups(trx: Transaction<Database>, tenant: string, users: readonly string[], groupKey: string, from: number): Promise<Map<string, Row>> {
    const q = trx
      .selectFrom('sb_notifications')
      .selectAll()
      .where('tenant', '=', tenant)
      .where('user_id', 'in', users)
      .where('group_key', '=', groupKey)
      .where('created_at', '>=', from)
      .where('read_at', 'is', null)
      .where('archived_at', 'is', null)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc');
    // Locked (PostgreSQL; SQLite has one writer): a merge adds to the row as another
    // transaction (another node) left it, never to a copy read before that one committed.
    const rows = await (this.#postgres ? q.forUpdate() : q).execute();
    return new Map(rows.map((r) => [r.user_id, r]));
  }

  /** The tenant's notification rows, for its quota. */
  async countRows(tenant: string): Promise<number> {
    const row = await this.#db.selectFrom('sb_notifications').select(sql<number>`count(*)`.as('n')).where('tenant', '=', tenant).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async list(tenant: string, user: string, q: ListQuery): Promise<Page> {
    const after: CursorPosition | undefined = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    let query = this.#db
      .selectFrom('sb_notifications')
      .selectAll()
      .where('tenant', '=', tenant)
      .where('user_id', '=', user)
      .where('archived_at', q.archived ? 'is not' : 'is', null);
    if (q.unreadOnly) query = query.where('read_at', 'is', null);
    if (q.type !== undefined) query = query.where('type', '=', q.type);
    if (q.since !== undefined) query = query.where('created_at', '>=', q.since);
    if (after) query = query.where((eb) => eb.or([eb('created_at', '<', after.time), eb.and([eb('created_at', '=', after.time), eb('id', '<', after.id)])]));
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit + 1)
      .execute();
    const page = pageOf(rows, q.limit, (r) => ({ time: r.created_at, id: r.id }));
    return { notifications: page.rows.map(toNotification), nextCursor: page.nextCursor };
  }

  /** Unread and unseen counts of users of one tenant (users without any get zeros). */
  async unreadCounts(tenant: string, users: readonly string[]): Promise<Map<string, UnreadCounts>> {
    const out = new Map<string, UnreadCounts>(users.map((u) => [u, { count: 0, unseen: 0 }]));
    for (const chunk of chunks(users)) {
      const rows = await this.#db
        .selectFrom('sb_notifications')
        .select(['user_id', (eb) => eb.fn.countAll<number>().as('count'), sql<number>`sum(case when seen_at is null then 1 else 0 end)`.as('unseen')])
        .where('tenant', '=', tenant)
        .where('user_id', 'in', chunk)
        .where('read_at', 'is', null)
        .where('archived_at', 'is', null)
        .groupBy('user_id')
        .execute();
      for (const r of rows) out.set(r.user_id, { count: Number(r.count), unseen: Number(r.unseen) });
    }
    return out;
  }

  async unreadCount(tenant: string, user: string): Promise<UnreadCounts> {
    return (await this.unreadCounts(tenant, [user])).get(user) as UnreadCounts;
  }

  /**
   * Mark one notification read (and seen). Another user's or another tenant's id is
   * NotFound, exactly like an id that does not exist. Returns whether anything changed.
   */
  async markRead(tenant: string, user: string, id: string): Promise<boolean> {
    const now = this.now();
    return this.#changeOne(tenant, user, id, (row) => row.read_at === null, { read_at: now, seen_at: sql<number>`coalesce(seen_at, ${now})` });
  }

  async archive(tenant: string, user: string, id: string): Promise<boolean> {
    return this.#changeOne(tenant, user, id, (row) => row.archived_at === null, { archived_at: this.now() });
  }

  async #changeOne(tenant: string, user: string, id: string, needed: (row: Row) => boolean, set: UpdateObject<Database, 'sb_notifications'>): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('sb_notifications')
        .selectAll()
        .where('id', '=', id)
        .where('tenant', '=', tenant)
        .where('user_id', '=', user)
        .executeTakeFirst();
      if (!row) throw new ReplyError(ErrorCode.NotFound, 'no such notification');
      if (!needed(row)) return false;
      await trx.updateTable('sb_notifications').set(set).where('id', '=', id).execute();
      return true;
    });
  }

  /** Mark every unread notification of the user read; returns how many changed. */
  async markAllRead(tenant: string, user: string): Promise<number> {
    const now = this.now();
    const res = await this.#db
      .updateTable('sb_notifications')
      .set({ read_at: now, seen_at: sql<number>`coalesce(seen_at, ${now})` })
      .where('tenant', '=', tenant)
      .where('user_id', '=', user)
      .where('read_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  /** Mark every notification of the user seen (the inbox was opened); returns how many changed. */
  async markAllSeen(tenant: string, user: string): Promise<number> {
    const res = await this.#db
      .updateTable('sb_notifications')
      .set({ seen_at: this.now() })
      .where('tenant', '=', tenant)
      .where('user_id', '=', user)
      .where('seen_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  async preferences(tenant: string, user: string): Promise<Preferences> {
    const row = await this.#db
      .selectFrom('sb_notification_preferences')
      .selectAll()
      .where('tenant', '=', tenant)
      .where('user_id', '=', user)
      .executeTakeFirst();
    return toPreferences(row);
  }

  /** Change some preferences (the others stay); the user becomes known to the tenant. */
  async setPreferences(tenant: string, user: string, patch: Partial<Preferences>): Promise<Preferences> {
    return this.#db.transaction().execute(async (trx) => {
      const now = this.now();
      const row = await trx.selectFrom('sb_notification_preferences').selectAll().where('tenant', '=', tenant).where('user_id', '=', user).executeTakeFirst();
      const prefs = toPreferences(row);
      if (patch.mutedTypes !== undefined) prefs.mutedTypes = patch.mutedTypes;
      if (patch.mutedCategories !== undefined) prefs.mutedCategories = patch.mutedCategories;
      if (patch.minPriority !== undefined) prefs.minPriority = patch.minPriority;
      const values = {
        muted_types: JSON.stringify([...new Set(prefs.mutedTypes)]),
        muted_categories: JSON.stringify([...new Set(prefs.mutedCategories)]),
        min_priority: priorityRank(prefs.minPriority),
        updated_at: now,
      };
      await trx
        .insertInto('sb_notification_preferences')
        .values({ tenant, user_id: user, ...values })
        .onConflict((oc) => oc.columns(['tenant', 'user_id']).doUpdateSet(values))
        .execute();
      await trx
        .insertInto('sb_users')
        .values({ tenant, user_id: user, first_seen: now, last_seen: now })
        .onConflict((oc) => oc.columns(['tenant', 'user_id']).doNothing())
        .execute();
      return toPreferences({ tenant, user_id: user, ...values });
    });
  }

  /** Record that a user connected: they count as "every user" of the tenant from now on. */
  /**
   * Record a connected user. Users connecting in the same event-loop turn are written
   * together in one statement per chunk, so a burst of connections costs a few writes
   * rather than one each; every caller still waits until its user is stored.
   */
  touchUser(tenant: string, user: string): Promise<void> {
    const key = `${tenant}|${user}`;
    if (this.#known.has(key)) return Promise.resolve(); // known: a reconnect writes nothing
    this.#pendingUsers.set(key, { tenant, user });
    this.#usersWrite ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#writeUsers());
    return this.#usersWrite;
  }

  async #writeUsers(): Promise<void> {
    const batch = [...this.#pendingUsers.values()];
    this.#pendingUsers.clear();
    this.#usersWrite = null;
    const now = this.now();
    for (const chunk of chunks(batch)) {
      await this.#db
        .insertInto('sb_users')
        .values(chunk.map((u) => ({ tenant: u.tenant, user_id: u.user, first_seen: now, last_seen: now })))
        .onConflict((oc) => oc.columns(['tenant', 'user_id']).doUpdateSet((eb) => ({ last_seen: eb.ref('excluded.last_seen') })))
        .execute();
      for (const u of chunk) this.#remember(u.tenant, [u.user]);
    }
  }

  /** Delete notifications created more than `days` days ago (0: all created before now). */
  async sweep(days: number, idempotencyTtl: number): Promise<{ notifications: number; keys: number }> {
    const now = this.now();
    const res = await this.#db
      .deleteFrom('sb_notifications')
      .where('created_at', '<', now - days * 86_400_000)
      .executeTakeFirst();
    const keys = await idempotencyKeys.sweep(this.#db, KEY_SCOPE, now - idempotencyTtl);
    return { notifications: Number(res.numDeletedRows), keys };
  }
}
