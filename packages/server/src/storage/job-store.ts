import { type Expression, type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { QueryShapes } from './query-shapes.js';
import type { Storage } from './storage.js';
import type { JobStatus, JobTable, SharedTables } from './tables.js';
import { YoungTableStats } from './young-table-stats.js';

/**
 * A job's state as the partial indexes of `sb_jobs` name it (migration 0008): a statement uses
 * one of them only when its WHERE has the index's condition with the same literal, never a
 * bound parameter. `column` is the status column as the statement names it (`j.status`).
 */
export function jobIs(status: 'pending' | 'running', column = 'status') {
  return sql<boolean>`${sql.ref(column)} = ${sql.lit(status)}`;
}

/** Finished (done, failed or cancelled), as the `sb_jobs_finished` index names it (see `jobIs`). */
export function jobFinished(column = 'status') {
  return sql<boolean>`${sql.ref(column)} in ('done', 'failed', 'cancelled')`;
}

/** A job as its handler and the lists see it. */
export interface Job {
  id: string;
  kind: string;
  /** The tenant it acts for ('' for none). */
  tenant: string;
  payload: unknown;
  status: JobStatus;
  /** Unix ms at which it runs (its next attempt's, after a failure). */
  dueAt: number;
  /** Attempts started so far, this one included while it runs. */
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  /** What the handler returned, once done. */
  result: unknown;
  createdAt: number;
  updatedAt: number;
}

export interface NewJob {
  id: string;
  kind: string;
  tenant: string;
  payload: unknown;
  dueAt: number;
  maxAttempts: number;
  /** The queue within its kind (JobTable.queue). A queue's jobs are neither capped nor listed by kind (`list`). */
  queue?: string | null;
}

/** The row of a new job: pending at its due time, no attempt yet. */
function newRow(job: NewJob, now: number): JobTable {
  return {
    id: job.id,
    kind: job.kind,
    tenant: job.tenant,
    payload: JSON.stringify(job.payload ?? null),
    status: 'pending',
    due_at: job.dueAt,
    attempts: 0,
    max_attempts: job.maxAttempts,
    lease_owner: null,
    lease_expires: null,
    last_error: null,
    result: null,
    created_at: now,
    updated_at: now,
    queue: job.queue ?? null,
  };
}

/** A claim of one attempt: the runner that holds it and the attempt number (the fence of every write). */
export interface JobClaim {
  id: string;
  owner: string;
  attempt: number;
}

/** The position of a job in a list ordered by (due time, id). */
export interface JobPosition {
  time: number;
  id: string;
}

/** Longest error text kept with a job. */
const ERROR_CHARS = 500;
/** Rows per multi-row statement: well under the bound-parameter limits of both stores. */
const INSERT_CHUNK = 200;

type Db = Kysely<SharedTables>;

/** A transaction (or the database) a job is written in; any kysely over a schema with the shared tables. */
// biome-ignore lint/suspicious/noExplicitAny: kysely instances over wider schemas are not assignable to the narrower one
export type JobExecutor = Kysely<any>;

/**
 * Every column a claim reads back, named: a statement run as a PostgreSQL prepared statement
 * must not say `*` (see `preparedName`).
 */
const JOB_COLUMNS = [
  'id',
  'kind',
  'tenant',
  'payload',
  'status',
  'due_at',
  'attempts',
  'max_attempts',
  'lease_owner',
  'lease_expires',
  'last_error',
  'result',
  'created_at',
  'updated_at',
  'queue',
] as const satisfies ReadonlyArray<keyof JobTable>;

function toJob(row: JobTable): Job {
  return {
    id: row.id,
    kind: row.kind,
    tenant: row.tenant,
    payload: JSON.parse(row.payload) as unknown,
    status: row.status,
    dueAt: Number(row.due_at),
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    lastError: row.last_error,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** Only the attempt a runner claimed may be written by it: a runner that lost its lease changes nothing. */
const held = (claim: JobClaim) => (eb: ExpressionBuilder<SharedTables, 'sb_jobs'>) =>
  eb.and([eb('id', '=', claim.id), eb('status', '=', 'running'), eb('lease_owner', '=', claim.owner), eb('attempts', '=', claim.attempt)]);

/** PostgreSQL: id lists longer than this are matched through `unnest` (see JobStore's #idList). */
export const UNNEST_OVER = 64;

/**
 * The `sb_jobs` table: insert, claim with a lease, heartbeat, finish, cancel, list. Every
 * write of a running job is fenced by its claim (owner and attempt), so a runner that paused
 * past its lease cannot overwrite what the runner that took the job over wrote.
 */
export class JobStore {
  readonly #db: Db;
  /** The hot statements (the outbox's inserts, claims, group completions) compiled once per shape. */
  readonly #shapes = new QueryShapes();
  /** PostgreSQL: the claim's plan needs statistics from the first minutes on (see YoungTableStats). */
  readonly #stats: YoungTableStats;

  constructor(private readonly storage: Storage) {
    this.#db = storage.db;
    this.#stats = new YoungTableStats(storage, 'sb_jobs');
  }

  /**
   * A column as a term of a statement that picks jobs by a list of ids. SQLite, which has no
   * statistics here, would rather walk the `(status, due_at)` or `(kind, …)` index than look up
   * a long id list along the primary key: a borrow of a batch's 1,000 pending jobs then read
   * every pending job (43 µs a job under a backlog of 100,000). `column || ''` is the same
   * value but no index term, so the ids drive. PostgreSQL too: its statistics, taken when few
   * jobs were running, had it read every running job along `(status, due_at)` to finish a
   * batch's 500 (25–50 ms) instead of probing the ids.
   */
  /**
   * Job ids to match `id` against: on PostgreSQL `(select unnest($1::text[]))`, which the planner
   * takes for a few rows and answers with primary-key probes whatever it believes of the other
   * columns (hundreds of ids in `IN (…)` were planned along (status, due_at): every running job
   * read, 25–35 ms); a short list (`UNNEST_OVER` ids or fewer) as it is, which plans faster
   * (0.17 ms against 0.54 ms per read of a few ids); on SQLite the list itself.
   */
  #idList(ids: readonly string[]) {
    return this.storage.kind === 'postgres' && ids.length > UNNEST_OVER ? sql<string>`(select unnest(${sql.val(ids)}::text[]))` : ids;
  }

  /**
   * `id` among the ids `pick` selects (a claim's or a borrow's due jobs, LIMIT n). On
   * PostgreSQL as `id = any(array(pick))`: the pick runs once and its rows are found by primary
   * key. Written `id IN (pick)`, PostgreSQL's planner joined the pick to a sequential scan of
   * the whole table (a hash semi join): every claim and borrow read every job row kept, 20 µs
   * per job taken on a table of 100,000 rows and more as it grows.
   */
  #picked(pick: Expression<{ id: string }>) {
    // kysely writes a subquery inside its parentheses: `array(select …)`, `in (select …)`.
    return this.storage.kind === 'postgres' ? sql<boolean>`${sql.ref('id')} = any(array${pick})` : sql<boolean>`${sql.ref('id')} in ${pick}`;
  }

  #byIds<C extends 'status' | 'kind'>(column: C) {
    return sql<string>`${sql.ref(column)} || ''`;
  }

  /**
   * Insert a job, or nothing when its id exists (a retried request with the same id): the
   * row with that id either way. `cap` bounds the tenant's unfinished jobs of the kind; over
   * it the answer is `full` and nothing is written.
   */
  async insert(job: NewJob, now: number, cap?: number, within?: JobExecutor): Promise<{ job: Job; created: boolean } | 'full'> {
    // Caps and lists count the jobs without a queue (`sb_jobs_unqueued`).
    if (cap !== undefined && job.queue != null) throw new Error('a capped job has no queue');
    if (within) return this.#insertIn(within as Db, job, now, cap);
    return this.storage.transaction((trx) => this.#insertIn(trx, job, now, cap));
  }

  async #insertIn(trx: Db, job: NewJob, now: number, cap?: number): Promise<{ job: Job; created: boolean } | 'full'> {
    // PostgreSQL: one writer per (kind, tenant) at a time, so concurrent inserts cannot pass the cap together.
    if (cap !== undefined && this.storage.kind === 'postgres')
      await sql`select pg_advisory_xact_lock(hashtext(${`sb_jobs:${job.kind}:${job.tenant}`}))`.execute(trx);
    const existing = await trx.selectFrom('sb_jobs').selectAll().where('id', '=', job.id).executeTakeFirst();
    if (existing) return { job: toJob(existing), created: false };
    if (cap !== undefined) {
      const { n } = await trx
        .selectFrom('sb_jobs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('kind', '=', job.kind)
        .where('tenant', '=', job.tenant)
        .where('queue', 'is', null)
        .where('status', 'in', ['pending', 'running'])
        .executeTakeFirstOrThrow();
      if (Number(n) >= cap) return 'full';
    }
    const row = newRow(job, now);
    // Two nodes adding the same id at once (a recurring job each schedules at start): one row, no error.
    const inserted = await trx
      .insertInto('sb_jobs')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    if (inserted.numInsertedOrUpdatedRows === BigInt(0)) {
      const winner = await trx.selectFrom('sb_jobs').selectAll().where('id', '=', job.id).executeTakeFirstOrThrow();
      return { job: toJob(winner), created: false };
    }
    this.#stats.grew(1);
    return { job: toJob(row), created: true };
  }

  /**
   * Insert new jobs (ids of their own: an id that exists already keeps its row) in a few
   * multi-row statements: the outbox of a request that makes many jobs at once.
   */
  async insertMany(jobs: readonly NewJob[], now: number, within?: JobExecutor): Promise<void> {
    const db = (within as Db | undefined) ?? this.#db;
    for (let i = 0; i < jobs.length; i += INSERT_CHUNK) {
      const rows = jobs.slice(i, i + INSERT_CHUNK).map((j) => newRow(j, now));
      await this.#shapes.run(db, `insert.${rows.length}`, rows.flatMap(Object.values), () =>
        db
          .insertInto('sb_jobs')
          .values(rows)
          .onConflict((oc) => oc.column('id').doNothing()),
      );
    }
    this.#stats.grew(jobs.length);
  }

  /**
   * A recurring job (one row under its id for the cluster), due at `job.dueAt`: inserted when
   * absent (several nodes at once: one row), else pending again at that time; a running one
   * is left to its runner, which schedules the next run when it ends. Pending rows of its kind
   * under other ids (an earlier version's one row per interval) are cancelled.
   */
  async recur(job: NewJob, now: number): Promise<void> {
    await this.#db
      .insertInto('sb_jobs')
      .values(newRow(job, now))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    await this.#db
      .updateTable('sb_jobs')
      .set({ status: 'pending', due_at: job.dueAt, attempts: 0, last_error: null, lease_owner: null, lease_expires: null, updated_at: now })
      .where('id', '=', job.id)
      .where('kind', '=', job.kind)
      .where('status', '<>', 'running')
      .execute();
    await this.#db
      .updateTable('sb_jobs')
      .set({ status: 'cancelled', updated_at: now })
      .where('kind', '=', job.kind)
      .where('id', '<>', job.id)
      .where(jobIs('pending'))
      .execute();
  }

  /**
   * Claim up to `limit` jobs of `kinds` that are due, or running under a lease that ended
   * (their runner died): each becomes `running` under `owner` until `now + leaseMs`, with one
   * more attempt. Each claiming statement reads and takes at once: PostgreSQL skips rows
   * another claim has locked, SQLite has one writer at a time, so two runners never claim the
   * same attempt.
   */
  async claim(kinds: readonly string[], owner: string, now: number, leaseMs: number, limit: number): Promise<Job[]> {
    if (kinds.length === 0 || limit <= 0) return [];
    // Two index-friendly reads, not one with an OR: the due ones in due order along
    // (status, due_at), stopping at `limit` however long the backlog; then, when slots are
    // left, the few running ones whose lease ended.
    const due = await this.#claimWhere(kinds, owner, now, leaseMs, limit, 'pending');
    const lapsed = due.length < limit ? await this.#claimWhere(kinds, owner, now, leaseMs, limit - due.length, 'lapsed') : [];
    return [...due, ...lapsed].sort((a, b) => a.dueAt - b.dueAt);
  }

  async #claimWhere(kinds: readonly string[], owner: string, now: number, leaseMs: number, limit: number, which: 'pending' | 'lapsed'): Promise<Job[]> {
    const build = () => {
      let ids = this.#db.selectFrom('sb_jobs').select('id');
      ids =
        which === 'pending'
          ? ids.where(jobIs('pending')).where('due_at', '<=', now).orderBy('due_at')
          : ids.where(jobIs('running')).where('lease_expires', '<=', now);
      ids = ids.where('kind', 'in', kinds).limit(limit);
      if (this.storage.kind === 'postgres') ids = ids.forUpdate().skipLocked();
      return this.#db
        .updateTable('sb_jobs')
        .set((eb) => ({ status: 'running', lease_owner: owner, lease_expires: now + leaseMs, attempts: eb('attempts', '+', 1), updated_at: now }))
        .where(this.#picked(ids))
        .returning(JOB_COLUMNS);
    };
    // The parameters in the order of the compiled statement: the SET, then the subquery's WHERE (the status a literal) and LIMIT.
    const params = ['running', owner, now + leaseMs, 1, now, now, ...kinds, limit];
    const { rows } = await this.#shapes.run(this.#db, `claim.${which}.${kinds.length}`, params, build);
    return rows.map(toJob);
  }

  /**
   * Take pending jobs of `kind` under a lease without counting an attempt (out-of-schedule
   * tries: a webhook endpoint's probe, the other messages of a batch): the jobs taken (those
   * not pending now are not). Finish them with `finishBorrowed` or return them with
   * `returnBorrowed`; if the borrower dies, their lease ends and they are claimed as usual.
   */
  async borrow(kind: string, ids: readonly string[], owner: string, now: number, leaseMs: number): Promise<string[]> {
    if (ids.length === 0) return [];
    // Only the ids back: every column of a thousand rows cost as much as the update itself.
    const rows = await this.#db
      .updateTable('sb_jobs')
      .set({ status: 'running', lease_owner: owner, lease_expires: now + leaseMs, updated_at: now })
      .where('id', 'in', this.#idList(ids))
      .where(this.#byIds('kind'), '=', kind)
      .where(this.#byIds('status'), '=', 'pending')
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  }

  /**
   * Borrow (as `borrow`) up to `limit` pending jobs of `kind` in `queue` due by `dueBy`, in due
   * order along the queue's pending index (`sb_jobs_queue_pending`), in one statement (PostgreSQL skips rows
   * another node has locked): the ids taken.
   */
  async borrowQueue(kind: string, queue: string, dueBy: number, limit: number, owner: string, now: number, leaseMs: number): Promise<string[]> {
    if (limit <= 0) return [];
    const build = () => {
      let ids = this.#db
        .selectFrom('sb_jobs')
        .select('id')
        .where('queue', '=', queue)
        .where(jobIs('pending'))
        .where('due_at', '<=', dueBy)
        .where('kind', '=', kind)
        .orderBy('due_at')
        .limit(limit);
      if (this.storage.kind === 'postgres') ids = ids.forUpdate().skipLocked();
      return (
        this.#db
          .updateTable('sb_jobs')
          .set({ status: 'running', lease_owner: owner, lease_expires: now + leaseMs, updated_at: now })
          .where(this.#picked(ids))
          // Checked again on the row itself (a row another node took meanwhile is left).
          .where(this.#byIds('status'), '=', 'pending')
          .returning('id')
      );
    };
    // The parameters in the order of the compiled statement: the SET, the subquery's WHERE (the status a literal) and LIMIT, the status again.
    const params = ['running', owner, now + leaseMs, now, queue, dueBy, kind, limit, 'pending'];
    const { rows } = await this.#shapes.run(this.#db, 'borrow.queue', params, build);
    return rows.map((r) => (r as { id: string }).id);
  }

  /**
   * Borrowed jobs that succeeded: `done` with `result`, or deleted when `remove` (a kind whose
   * feature records the success itself: JobKindOptions.deletesDone), in `within` when given;
   * how many (one whose lease was lost meanwhile is not).
   */
  async finishBorrowed(ids: readonly string[], owner: string, result: unknown, now: number, within?: JobExecutor, remove = false): Promise<number> {
    if (ids.length === 0) return 0;
    const db = (within as Db | undefined) ?? this.#db;
    if (remove) {
      const r = await db
        .deleteFrom('sb_jobs')
        .where('id', 'in', this.#idList(ids))
        .where(this.#byIds('status'), '=', 'running')
        .where('lease_owner', '=', owner)
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    }
    const r = await db
      .updateTable('sb_jobs')
      .set({ status: 'done', result: JSON.stringify(result ?? null), lease_owner: null, lease_expires: null, updated_at: now })
      .where('id', 'in', this.#idList(ids))
      .where(this.#byIds('status'), '=', 'running')
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Borrowed jobs go back to `pending`: due when they were, or at `dueAt`; their attempts unchanged. */
  async returnBorrowed(ids: readonly string[], owner: string, now: number, dueAt?: number): Promise<number> {
    if (ids.length === 0) return 0;
    const r = await this.#db
      .updateTable('sb_jobs')
      .set({ status: 'pending', lease_owner: null, lease_expires: null, updated_at: now, ...(dueAt === undefined ? {} : { due_at: dueAt }) })
      .where('id', 'in', this.#idList(ids))
      .where(this.#byIds('status'), '=', 'running')
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** A pending job becomes due no sooner than `dueAt` (a later due time stays); whether it moved. */
  async postpone(kind: string, id: string, dueAt: number, now: number, within?: JobExecutor): Promise<boolean> {
    const r = await ((within as Db | undefined) ?? this.#db)
      .updateTable('sb_jobs')
      .set({ due_at: dueAt, updated_at: now })
      .where('id', '=', id)
      .where('kind', '=', kind)
      .where('status', '=', 'pending')
      .where('due_at', '<', dueAt)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Extend a held lease; false once the claim no longer holds (another runner took the job over). */
  async heartbeat(claim: JobClaim, until: number): Promise<boolean> {
    const r = await this.#db.updateTable('sb_jobs').set({ lease_expires: until }).where(held(claim)).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** The attempt succeeded: `done`, with the handler's result; deleted instead when `remove` (JobKindOptions.deletesDone). */
  async complete(claim: JobClaim, result: unknown, now: number, remove = false): Promise<boolean> {
    if (remove) {
      const r = await this.#db.deleteFrom('sb_jobs').where(held(claim)).executeTakeFirst();
      return Number(r.numDeletedRows) === 1;
    }
    const r = await this.#db
      .updateTable('sb_jobs')
      .set({ status: 'done', result: JSON.stringify(result ?? null), lease_owner: null, lease_expires: null, updated_at: now })
      .where(held(claim))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Attempts that succeeded, recorded together (a group commit): each `done` with its result,
   * or deleted when `remove` (JobKindOptions.deletesDone), fenced by its claim as `complete`
   * is; one statement per (owner, attempt, result). The ids recorded (one whose lease was lost
   * meanwhile is not).
   */
  async completeMany(done: ReadonlyArray<{ claim: JobClaim; result: unknown; remove?: boolean }>, now: number, within?: JobExecutor): Promise<Set<string>> {
    const db = (within as Db | undefined) ?? this.#db;
    const groups = new Map<string, { owner: string; attempt: number; result: string; remove: boolean; ids: string[] }>();
    for (const { claim, result, remove = false } of done) {
      // A deleted row keeps no result: those group by claim alone.
      const text = remove ? '' : JSON.stringify(result ?? null);
      const key = `${claim.owner}\u0000${claim.attempt}\u0000${remove ? 'delete' : text}`;
      const group = groups.get(key) ?? { owner: claim.owner, attempt: claim.attempt, result: text, remove, ids: [] };
      group.ids.push(claim.id);
      groups.set(key, group);
    }
    const recorded = new Set<string>();
    for (const g of groups.values())
      for (let i = 0; i < g.ids.length; i += INSERT_CHUNK) {
        const ids = g.ids.slice(i, i + INSERT_CHUNK);
        const pg = this.storage.kind === 'postgres' && ids.length > UNNEST_OVER;
        const fence = ['running', g.owner, g.attempt];
        const { rows } = g.remove
          ? await this.#shapes.run(db, pg ? 'complete.delete.pg' : `complete.delete.${ids.length}`, [...(pg ? [ids] : ids), ...fence], () =>
              db
                .deleteFrom('sb_jobs')
                .where('id', 'in', this.#idList(ids))
                .where(this.#byIds('status'), '=', 'running')
                .where('lease_owner', '=', g.owner)
                .where('attempts', '=', g.attempt)
                .returning('id'),
            )
          : await this.#shapes.run(
              db,
              pg ? 'complete.pg' : `complete.${ids.length}`,
              ['done', g.result, null, null, now, ...(pg ? [ids] : ids), ...fence],
              () =>
                db
                  .updateTable('sb_jobs')
                  .set({ status: 'done', result: g.result, lease_owner: null, lease_expires: null, updated_at: now })
                  .where('id', 'in', this.#idList(ids))
                  .where(this.#byIds('status'), '=', 'running')
                  .where('lease_owner', '=', g.owner)
                  .where('attempts', '=', g.attempt)
                  .returning('id'),
            );
        for (const r of rows) recorded.add(r.id);
      }
    return recorded;
  }

  /** The attempt of a recurring job succeeded: `pending` again at `dueAt`, its attempts back to 0, the handler's result kept. */
  async reschedule(claim: JobClaim, result: unknown, dueAt: number, now: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('sb_jobs')
      .set({
        status: 'pending',
        due_at: dueAt,
        attempts: 0,
        result: JSON.stringify(result ?? null),
        last_error: null,
        lease_owner: null,
        lease_expires: null,
        updated_at: now,
      })
      .where(held(claim))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** The attempt failed: `pending` again at `dueAt`, or `failed` when `dueAt` is null (no attempt left). */
  async fail(claim: JobClaim, error: string, dueAt: number | null, now: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('sb_jobs')
      .set({
        status: dueAt === null ? 'failed' : 'pending',
        ...(dueAt === null ? {} : { due_at: dueAt }),
        last_error: error.slice(0, ERROR_CHARS),
        lease_owner: null,
        lease_expires: null,
        updated_at: now,
      })
      .where(held(claim))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** A job of a kind and tenant, or undefined (another tenant's id is undefined too). */
  async get(kind: string, tenant: string, id: string): Promise<Job | undefined> {
    const row = await this.#db.selectFrom('sb_jobs').selectAll().where('id', '=', id).where('kind', '=', kind).where('tenant', '=', tenant).executeTakeFirst();
    return row ? toJob(row) : undefined;
  }

  /** Cancel a pending job: the job cancelled, `not-found`, or the job as it is when it is no longer pending. */
  async cancel(kind: string, tenant: string, id: string, now: number): Promise<{ cancelled: boolean; job: Job } | 'not-found'> {
    const r = await this.#db
      .updateTable('sb_jobs')
      .set({ status: 'cancelled', updated_at: now })
      .where('id', '=', id)
      .where('kind', '=', kind)
      .where('tenant', '=', tenant)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    const job = await this.get(kind, tenant, id);
    if (!job) return 'not-found';
    return { cancelled: Number(r.numUpdatedRows) === 1, job };
  }

  /**
   * A tenant's jobs of a kind without a queue (a queue's jobs are listed by their feature) by
   * due time (soonest first), after `after`, optionally of some statuses; `limit + 1` read for paging.
   */
  async list(kind: string, tenant: string, opts: { statuses?: readonly JobStatus[]; after?: JobPosition; limit: number }): Promise<Job[]> {
    let q = this.#db.selectFrom('sb_jobs').selectAll().where('kind', '=', kind).where('tenant', '=', tenant).where('queue', 'is', null);
    if (opts.statuses && opts.statuses.length > 0) q = q.where('status', 'in', opts.statuses);
    const after = opts.after;
    if (after) q = q.where((eb) => eb.or([eb('due_at', '>', after.time), eb.and([eb('due_at', '=', after.time), eb('id', '>', after.id)])]));
    const rows = await q
      .orderBy('due_at')
      .orderBy('id')
      .limit(opts.limit + 1)
      .execute();
    return rows.map(toJob);
  }

  /** Delete finished jobs (done, failed, cancelled) last changed before `before`, but those of the `kept` kinds; how many. */
  async sweep(before: number, kept: readonly string[] = []): Promise<number> {
    let q = this.#db.deleteFrom('sb_jobs').where(jobFinished()).where('updated_at', '<', before);
    if (kept.length > 0) q = q.where('kind', 'not in', kept);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
