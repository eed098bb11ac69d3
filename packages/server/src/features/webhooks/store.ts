import { type Kysely, sql } from 'kysely';
import { type JobExecutor, jobFinished, jobIs, UNNEST_OVER } from '../../storage/job-store.js';
import type { CursorPosition } from '../../storage/paging.js';
import { QueryShapes } from '../../storage/query-shapes.js';
import type { Storage } from '../../storage/storage.js';
import type { JobStatus, SharedTables } from '../../storage/tables.js';
import { YoungTableStats } from '../../storage/young-table-stats.js';
import { DECLARED_PREFIX, isDeclared } from './endpoint-ids.js';
import type { WebhookAttemptTable, WebhookEndpointTable, WebhookEventTable, WebhookMessageTable, WebhookTables } from './tables.js';

type Db = Kysely<SharedTables & WebhookTables>;

/** The job kind of a delivery, as the runner stores it (the feature's scoped kind). */
export const DELIVER_KIND = 'webhooks.deliver';
/** The job kind of a failing endpoint's probe, as the runner stores it. */
export const PROBE_KIND = 'webhooks.probe';

/** An endpoint as the API shows it (the secret only in the create and rotate answers). */
export interface Endpoint {
  id: string;
  url: string;
  description: string;
  events: string[];
  channels: string[];
  status: 'enabled' | 'disabled';
  disabledReason: string | null;
  failingSince: number | null;
  batch: { windowMs: number; maxEvents: number } | null;
  /** Declared in the config file (webhooks.endpoints): the API cannot change or delete it. */
  declared: boolean;
  createdAt: number;
  updatedAt: number;
}

export type MessageStatus = 'pending' | 'delivered' | 'failed';

export interface Attempt {
  at: number;
  responseStatus: number | null;
  durationMs: number;
  error: string | null;
}

export interface Message {
  id: string;
  eventId: string;
  type: string;
  status: MessageStatus;
  attempts: Attempt[];
  nextAttemptAt: number | null;
  createdAt: number;
}

export const toEndpoint = (r: WebhookEndpointTable): Endpoint => ({
  id: r.id,
  url: r.url,
  description: r.description,
  events: JSON.parse(r.events) as string[],
  channels: JSON.parse(r.channels) as string[],
  status: r.status,
  disabledReason: r.disabled_reason,
  failingSince: r.failing_since === null ? null : Number(r.failing_since),
  batch: r.batch_size === null || r.batch_window === null ? null : { windowMs: Number(r.batch_window), maxEvents: Number(r.batch_size) },
  declared: isDeclared(r.id),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

const STATUSES: Record<MessageStatus, JobStatus[]> = { pending: ['pending', 'running'], delivered: ['done'], failed: ['failed', 'cancelled'] };
/**
 * A message's status from its delivery job: a delivered message's job is deleted when it
 * succeeds (JobKindOptions.deletesDone; `done` rows are those of earlier releases).
 */
const statusOf = (job: JobStatus | null): MessageStatus =>
  job === null || job === 'done' ? 'delivered' : job === 'failed' || job === 'cancelled' ? 'failed' : 'pending';

/** The filter for messages of one status on their left-joined delivery job `j` (no job left = delivered). */
const hasStatus = (status: MessageStatus) => {
  const inStatuses = sql<boolean>`${sql.ref('j.status')} in (${sql.join(STATUSES[status])})`;
  return status === 'delivered' ? sql<boolean>`(${sql.ref('j.id')} is null or ${inStatuses})` : inStatuses;
};

/** The webhooks tables: endpoints, emitted events, messages (event × endpoint) and their attempts. */
/** Messages deleted per statement by the sweep and an endpoint's delete: well under the bound-parameter limits. */
const SWEEP_CHUNK = 500;
/** Most messages one sweep deletes (the next sweep goes on). */
const SWEEP_MAX = 50_000;

export class WebhookStore {
  readonly db: Db;
  /** The statements of every event and every attempt, compiled once per shape (row count). */
  readonly #shapes = new QueryShapes();

  /** PostgreSQL: reads of messages (a batch's, the sweep's) are planned from their statistics (see YoungTableStats). */
  readonly #messageStats: YoungTableStats;
  /** PostgreSQL: a batch's read joins the events, planned from their statistics too. */
  readonly #eventStats: YoungTableStats;

  readonly #postgres: boolean;

  constructor(storage: Storage) {
    this.db = storage.tables<WebhookTables>();
    this.#postgres = storage.kind === 'postgres';
    this.#messageStats = new YoungTableStats(storage, 'sb_webhook_messages');
    this.#eventStats = new YoungTableStats(storage, 'sb_webhook_events');
  }

  async allEndpoints(tenant?: string): Promise<WebhookEndpointTable[]> {
    let q = this.db.selectFrom('sb_webhook_endpoints').selectAll();
    if (tenant !== undefined) q = q.where('tenant', '=', tenant);
    return q.orderBy('created_at').orderBy('id').execute();
  }

  async endpoint(tenant: string, id: string): Promise<WebhookEndpointTable | undefined> {
    return this.db.selectFrom('sb_webhook_endpoints').selectAll().where('tenant', '=', tenant).where('id', '=', id).executeTakeFirst();
  }

  async endpointById(id: string): Promise<WebhookEndpointTable | undefined> {
    return this.db.selectFrom('sb_webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Insert an endpoint unless the tenant has `cap` already (`full`). */
  async create(row: WebhookEndpointTable, cap: number): Promise<'full' | 'created'> {
    return this.db.transaction().execute(async (trx) => {
      const { n } = await trx
        .selectFrom('sb_webhook_endpoints')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('tenant', '=', row.tenant)
        // Endpoints declared in the config file are the operator's: outside the tenant's cap.
        .where('id', 'not like', `${DECLARED_PREFIX}%`)
        .executeTakeFirstOrThrow();
      if (Number(n) >= cap) return 'full';
      await trx.insertInto('sb_webhook_endpoints').values(row).execute();
      return 'created';
    });
  }

  async update(tenant: string, id: string, set: Partial<WebhookEndpointTable>): Promise<WebhookEndpointTable | undefined> {
    await this.db.updateTable('sb_webhook_endpoints').set(set).where('tenant', '=', tenant).where('id', '=', id).execute();
    return this.endpoint(tenant, id);
  }

  /**
   * Delete an endpoint, cancel its pending deliveries, drop its messages; false when there was
   * none. The endpoint goes in one transaction (nothing is sent to it after that: a delivery
   * finds it gone); its history goes after, a chunk per transaction, so an endpoint with days
   * of messages does not hold the node (its event loop, SQLite's one writer) for seconds. A
   * stop halfway leaves messages the sweep removes.
   */
  async delete(tenant: string, id: string, now: number): Promise<boolean> {
    const deleted = await this.db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('sb_webhook_endpoints').where('tenant', '=', tenant).where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) return false;
      // Its probe stops.
      await trx
        .updateTable('sb_jobs')
        .set({ status: 'cancelled', updated_at: now })
        .where('kind', '=', PROBE_KIND)
        .where('id', 'like', `probe:${id}:%`)
        .where(jobIs('pending'))
        .execute();
      return true;
    });
    if (deleted) await this.#dropMessages(id);
    return deleted;
  }

  /** An endpoint's messages with their attempts and their deliveries not running (a running one finds its message gone). */
  async #dropMessages(endpointId: string): Promise<void> {
    for (;;) {
      const ids = (await this.db.selectFrom('sb_webhook_messages').select('id').where('endpoint_id', '=', endpointId).limit(SWEEP_CHUNK).execute()).map(
        (r) => r.id,
      );
      if (ids.length === 0) return;
      await this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('sb_jobs').where('id', 'in', ids).where('status', '!=', 'running').execute();
        await trx.deleteFrom('sb_webhook_attempts').where('message_id', 'in', ids).execute();
        await trx.deleteFrom('sb_webhook_messages').where('id', 'in', ids).execute();
      });
      // The node's other work between two chunks.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * The outbox rows of a change, in its transaction: its events, then their messages (one per
   * endpoint that wants the event), each in multi-row statements of at most `chunk` rows.
   */
  async insertOutbox(trx: JobExecutor, events: readonly WebhookEventTable[], messages: readonly WebhookMessageTable[], chunk: number): Promise<void> {
    const db = trx as Db;
    // Columns in one order (the compiled statements' parameters), whatever order the caller built them in.
    for (let i = 0; i < events.length; i += chunk) {
      const rows = events.slice(i, i + chunk).map((e) => ({ id: e.id, tenant: e.tenant, type: e.type, data: e.data, occurred_at: e.occurred_at }));
      await this.#shapes.run(db, `events.insert.${rows.length}`, rows.flatMap(Object.values), () => db.insertInto('sb_webhook_events').values(rows));
    }
    for (let i = 0; i < messages.length; i += chunk) {
      const rows = messages
        .slice(i, i + chunk)
        .map((m) => ({ id: m.id, tenant: m.tenant, endpoint_id: m.endpoint_id, event_id: m.event_id, created_at: m.created_at }));
      await this.#shapes.run(db, `messages.insert.${rows.length}`, rows.flatMap(Object.values), () => db.insertInto('sb_webhook_messages').values(rows));
    }
    this.#messageStats.grew(messages.length);
    this.#eventStats.grew(events.length);
  }

  /** Messages with their events, for a batch (in no particular order). */
  async deliveries(messageIds: readonly string[]) {
    if (messageIds.length === 0) return [];
    if (this.#postgres && messageIds.length > UNNEST_OVER) {
      // The ids drive the join, an index probe each, whatever the statistics say: `m.id IN (…)`
      // of a batch's 500 ids was planned as a scan of every message and every event (35 ms).
      // (A few ids plan faster as a list.)
      const ids = sql<string>`(select unnest(${sql.val(messageIds)}::text[]))`;
      const { rows } = await this.#shapes.run(this.db, 'deliveries.pg', [messageIds], () => this.#withEvents().where('m.id', 'in', ids));
      return rows;
    }
    const { rows } = await this.#shapes.run(this.db, `deliveries.${messageIds.length}`, messageIds, () => this.#withEvents().where('m.id', 'in', messageIds));
    return rows;
  }

  /** Messages joined with their events: what an attempt sends. */
  #withEvents() {
    return this.db
      .selectFrom('sb_webhook_messages as m')
      .innerJoin('sb_webhook_events as e', 'e.id', 'm.event_id')
      .select(['m.id', 'm.endpoint_id', 'm.tenant', 'e.id as event_id', 'e.type', 'e.data', 'e.occurred_at']);
  }

  /**
   * An endpoint's pending deliveries (a delivery job's id is its message's), along the jobs'
   * pending index per queue: bounded by what the endpoint has pending, never by every
   * message it had (delivered ones are kept for days) nor by other endpoints' backlogs.
   */
  #pending(endpointId: string) {
    return this.db.selectFrom('sb_jobs as j').select('j.id').where('j.queue', '=', endpointId).where(jobIs('pending', 'j.status'));
  }

  /** A message with its event, for a delivery attempt. */
  async delivery(messageId: string) {
    return this.#withEvents().where('m.id', '=', messageId).executeTakeFirst();
  }

  /** Endpoints by id (those that exist). */
  async endpointsById(ids: readonly string[]): Promise<WebhookEndpointTable[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.#shapes.run(this.db, `endpoints.${ids.length}`, ids, () =>
      this.db.selectFrom('sb_webhook_endpoints').selectAll().where('id', 'in', ids),
    );
    return rows;
  }

  /** Attempt rows, in `trx` when given (a group commit of the job runner). */
  async recordAttempts(rows: readonly WebhookAttemptTable[], trx?: Db): Promise<void> {
    const db = trx ?? this.db;
    for (let i = 0; i < rows.length; i += SWEEP_CHUNK) {
      // Columns in one order (the compiled statement's parameters), whatever order the caller built them in.
      const chunk = rows
        .slice(i, i + SWEEP_CHUNK)
        .map((r) => ({ message_id: r.message_id, at: r.at, response_status: r.response_status, duration_ms: r.duration_ms, error: r.error }));
      await this.#shapes.run(db, `attempts.insert.${chunk.length}`, chunk.flatMap(Object.values), () => db.insertInto('sb_webhook_attempts').values(chunk));
    }
  }

  /** Up to `n` pending messages of an endpoint, oldest first (what its probe tries). */
  async oldestPending(endpointId: string, n: number): Promise<string[]> {
    // A delivery job is written with its message, at the same time: its creation time is the message's.
    const rows = await this.#pending(endpointId).orderBy('j.created_at').orderBy('j.id').limit(n).execute();
    return rows.map((r) => r.id);
  }

  /**
   * A 2xx: the endpoint is healthy again, and every pending message of it is due now (its
   * backlog drains); true when it was failing until now.
   */
  async succeeded(endpointId: string, now: number): Promise<boolean> {
    const healed = await this.db
      .updateTable('sb_webhook_endpoints')
      .set({ failing_since: null })
      .where('id', '=', endpointId)
      .where('failing_since', 'is not', null)
      .executeTakeFirst();
    // A healthy endpoint's 2xx changes nothing more: its other messages are due on their own.
    if (Number(healed.numUpdatedRows) === 0) return false;
    await this.db.updateTable('sb_jobs').set({ due_at: now }).where('queue', '=', endpointId).where(jobIs('pending')).where('due_at', '>', now).execute();
    return true;
  }

  /**
   * A failure: the time the endpoint started failing (now, if it was healthy), or null when
   * it was deleted. `then` runs in the same transaction (the endpoint's row locked), so what
   * it writes for the endpoint cannot outlive a delete that ran meanwhile.
   */
  async failed(endpointId: string, now: number, then?: (trx: Kysely<SharedTables & WebhookTables>, since: number) => Promise<void>): Promise<number | null> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('sb_webhook_endpoints')
        .set({ failing_since: sql`coalesce(failing_since, ${now})` })
        .where('id', '=', endpointId)
        .execute();
      const row = await trx.selectFrom('sb_webhook_endpoints').select('failing_since').where('id', '=', endpointId).executeTakeFirst();
      if (row === undefined) return null;
      const since = row.failing_since === null ? now : Number(row.failing_since);
      await then?.(trx, since);
      return since;
    });
  }

  async disable(endpointId: string, reason: string, now: number): Promise<void> {
    await this.db
      .updateTable('sb_webhook_endpoints')
      .set({ status: 'disabled', disabled_reason: reason, updated_at: now })
      .where('id', '=', endpointId)
      .execute();
  }

  /** An endpoint's messages, newest first, optionally of one status; `limit + 1` read for paging. */
  async messages(tenant: string, endpointId: string, opts: { status?: MessageStatus; after?: CursorPosition; limit: number }): Promise<Message[]> {
    let q = this.db
      .selectFrom('sb_webhook_messages as m')
      .innerJoin('sb_webhook_events as e', 'e.id', 'm.event_id')
      .leftJoin('sb_jobs as j', 'j.id', 'm.id')
      .select(['m.id', 'm.event_id', 'm.created_at', 'e.type', 'j.status', 'j.due_at'])
      .where('m.tenant', '=', tenant)
      .where('m.endpoint_id', '=', endpointId);
    const status = opts.status;
    if (status) q = q.where(hasStatus(status));
    const after = opts.after;
    if (after) q = q.where((eb) => eb.or([eb('m.created_at', '<', after.time), eb.and([eb('m.created_at', '=', after.time), eb('m.id', '<', after.id)])]));
    const rows = await q
      .orderBy('m.created_at', 'desc')
      .orderBy('m.id', 'desc')
      .limit(opts.limit + 1)
      .execute();
    const attempts = await this.#attemptsOf(rows.map((r) => r.id));
    return rows.map((r) => {
      const status = statusOf(r.status);
      return {
        id: r.id,
        eventId: r.event_id,
        type: r.type,
        status,
        attempts: attempts.get(r.id) ?? [],
        nextAttemptAt: r.status === 'pending' ? Number(r.due_at) : null,
        createdAt: Number(r.created_at),
      };
    });
  }

  async #attemptsOf(ids: string[]): Promise<Map<string, Attempt[]>> {
    const out = new Map<string, Attempt[]>();
    if (ids.length === 0) return out;
    const rows = await this.db.selectFrom('sb_webhook_attempts').selectAll().where('message_id', 'in', ids).orderBy('at').execute();
    for (const r of rows) {
      const list = out.get(r.message_id) ?? [];
      list.push({ at: Number(r.at), responseStatus: r.response_status, durationMs: Number(r.duration_ms), error: r.error });
      out.set(r.message_id, list);
    }
    return out;
  }

  /** Events of an endpoint's messages created in [since, until] whose delivery has a status (any when none), oldest first. */
  async eventsToReplay(tenant: string, endpointId: string, since: number, until: number, status: MessageStatus | undefined, limit: number): Promise<string[]> {
    let q = this.db
      .selectFrom('sb_webhook_messages as m')
      .leftJoin('sb_jobs as j', 'j.id', 'm.id')
      .select('m.event_id')
      .where('m.tenant', '=', tenant)
      .where('m.endpoint_id', '=', endpointId)
      .where('m.created_at', '>=', since)
      .where('m.created_at', '<=', until);
    if (status) q = q.where(hasStatus(status));
    const rows = await q.orderBy('m.created_at').orderBy('m.id').limit(limit).execute();
    return [...new Set(rows.map((r) => r.event_id))];
  }

  /** Pending deliveries per endpoint and the oldest one's creation time (for the backlog gauges). */
  async backlog(): Promise<Array<{ endpoint: string; n: number; oldest: number }>> {
    // From the unfinished delivery jobs alone (their queue is the endpoint, their creation time
    // the message's): bounded by the backlog, not by the messages kept. Pending and running
    // apart, each along its partial index.
    const per = new Map<string, { endpoint: string; n: number; oldest: number }>();
    for (const status of ['pending', 'running'] as const) {
      const rows = await this.db
        .selectFrom('sb_jobs as j')
        .select((eb) => ['j.queue', eb.fn.countAll<number>().as('n'), eb.fn.min('j.created_at').as('oldest')])
        .where(jobIs(status, 'j.status'))
        .where('j.kind', '=', DELIVER_KIND)
        .where('j.queue', 'is not', null)
        .groupBy('j.queue')
        .execute();
      for (const r of rows) {
        const endpoint = r.queue as string;
        const was = per.get(endpoint);
        const n = Number(r.n);
        const oldest = Number(r.oldest);
        per.set(endpoint, was ? { endpoint, n: was.n + n, oldest: Math.min(was.oldest, oldest) } : { endpoint, n, oldest });
      }
    }
    return [...per.values()];
  }

  /**
   * Delete messages of finished deliveries created before `before`, with their attempts and
   * their jobs (the job runner leaves this kind's finished jobs to this sweep), then events no
   * message needs. A message whose job is gone (swept by an earlier release) goes too.
   */
  async sweep(before: number): Promise<number> {
    const old = this.db
      .selectFrom('sb_webhook_messages as m')
      .leftJoin('sb_jobs as j', 'j.id', 'm.id')
      .select('m.id')
      .where('m.created_at', '<', before)
      .where((eb) => eb.or([eb('j.id', 'is', null), jobFinished('j.status')]));
    const ids = (await old.limit(SWEEP_MAX).execute()).map((r) => r.id);
    let deleted = 0;
    for (let i = 0; i < ids.length; i += SWEEP_CHUNK) {
      const chunk = ids.slice(i, i + SWEEP_CHUNK);
      await this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('sb_webhook_attempts').where('message_id', 'in', chunk).execute();
        await trx.deleteFrom('sb_jobs').where('id', 'in', chunk).execute();
        const r = await trx.deleteFrom('sb_webhook_messages').where('id', 'in', chunk).executeTakeFirst();
        deleted += Number(r.numDeletedRows);
      });
    }
    // Deliveries whose message went with its endpoint, finished since.
    await this.db
      .deleteFrom('sb_jobs')
      .where('kind', '=', DELIVER_KIND)
      .where(jobFinished())
      .where('updated_at', '<', before)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('sb_webhook_messages as m').select('m.id').whereRef('m.id', '=', 'sb_jobs.id'))))
      .execute();
    await this.db
      .deleteFrom('sb_webhook_events')
      .where('occurred_at', '<', before)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('sb_webhook_messages as m').select('m.id').whereRef('m.event_id', '=', 'sb_webhook_events.id'))),
      )
      .execute();
    return deleted;
  }
}
