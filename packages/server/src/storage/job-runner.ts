import { randomBytes } from 'node:crypto';
import { ErrorCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import { ReplyError } from '../errors/reply-error.js';
import { createError } from '../errors/sb-error.js';
import { newId } from './ids.js';
import { JobOutcomes } from './job-outcomes.js';
import { type Job, type JobExecutor, JobStore } from './job-store.js';
import type { Storage } from './storage.js';

/** The `jobs` section of the config. */
export interface JobsConfig {
  pollInterval: number;
  lease: number;
  concurrency: number;
  maxAttempts: number;
  backoff: number;
  maxBackoff: number;
  keepFinished: number;
}

/**
 * Runs one attempt of a job. What it returns (JSON) is kept as the job's result. A throw is a
 * failed attempt, retried after a backoff until `maxAttempts`; a ReplyError that is not
 * temporary fails the job at once (the same attempt would get the same answer). `signal`
 * aborts when the runner lost the job's lease or stops: an attempt then ends as soon as it can.
 */
export type JobHandler = (job: Job, signal: AbortSignal) => Promise<unknown>;

export interface JobKindOptions {
  /** Attempts before the job is failed (default `jobs.maxAttempts`). */
  maxAttempts?: number;
  /**
   * The wait before the next attempt after `job.attempts` failed with `err` (ms), instead of
   * the runner's doubling backoff; null fails the job now. A kind with its own schedule
   * (webhooks) decides here, from the error the handler threw.
   */
  retryDelay?(job: Job, err: unknown): number | null;
  /**
   * The feature deletes this kind's finished jobs itself, with the records they belong to
   * (webhook messages are kept `webhooks.keepMessages`): the runner's sweep after
   * `jobs.keepFinished` leaves them.
   */
  keepsFinished?: boolean;
  /**
   * A job that succeeds is deleted, not kept as `done` with its result: the feature's own
   * records say it succeeded (a webhook message whose delivery job is gone was delivered).
   * One row marked deleted instead of a new version of the row in every index of the jobs
   * table: on PostgreSQL a quarter of the cost of the update.
   */
  deletesDone?: boolean;
  /**
   * A recurring kind (a sweep): after each attempt that succeeds the job is pending again,
   * due this many ms after that attempt began, as a timer's interval is (read at every run,
   * so a reloaded config applies); 0 or less: done.
   * Its job is stored with `recur`: one row for the cluster, its id the kind.
   */
  every?: () => number;
  /**
   * Many short attempts (webhook deliveries): a success is recorded in a group commit with
   * the others that finished within a few ms (JobOutcomes), and the handler's own writes
   * queued with `JobRunner.grouped` share that transaction.
   */
  groupCommit?: boolean;
  /**
   * The kind records its failed attempts itself (webhook attempts are rows of their own): a
   * failed attempt that will be retried is logged at debug, not warn, so a receiver's outage
   * does not turn into a log line per attempt. A job that fails for good is still a warning.
   */
  recordsAttempts?: boolean;
}

/** Jobs taken for a try outside their schedule (JobRunner.borrow). */
export interface BorrowedJobs {
  /** The ids of the jobs taken. */
  ids: string[];
  /** They succeeded: `done` with this result (deleted for a kind that `deletesDone`); how many (those whose lease was lost meanwhile are not). */
  done(result: unknown): Promise<number>;
  /** Return them to `pending`, due when they were or at `dueAt`, their attempts unchanged. */
  giveBack(dueAt?: number): Promise<number>;
}

export interface AddJob {
  kind: string;
  payload: unknown;
  /** Unix ms, on the runner's clock; now or earlier runs at the next poll. */
  dueAt: number;
  tenant?: string;
  /** The job's id; a second add with the same id adds nothing and answers the first job. */
  id?: string;
  maxAttempts?: number;
  /** Most unfinished jobs of this kind the tenant may have; beyond it `add` answers `full`. */
  cap?: number;
  /** The queue within its kind (a webhook endpoint's deliveries): see JobTable.queue. */
  queue?: string;
}

interface Kind {
  handler: JobHandler;
  maxAttempts: number | undefined;
  retryDelay: JobKindOptions['retryDelay'];
  keepsFinished: boolean;
  deletesDone: boolean;
  every: JobKindOptions['every'];
  groupCommit: boolean;
  recordsAttempts: boolean;
}

/** How often (on the runner's clock) finished jobs older than `keepFinished` are deleted. */
const SWEEP_EVERY = 60_000;

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * One job runner per node, over the `sb_jobs` table: due-time polling every `pollInterval`,
 * and sooner when a job added here is due before the next poll. Claimed jobs run under a
 * lease renewed while they run; a failure is retried after an exponential backoff, until
 * `maxAttempts`, then the job is `failed`. Several nodes on one database claim disjoint jobs
 * (see JobStore.claim); a node that dies leaves its leases to expire, and another node runs
 * those jobs again (so a handler must be idempotent: the kernel's publish uses the job id as
 * its idempotency key). Handlers are registered per kind before `start`; after `stop` none runs.
 */
export class JobRunner {
  /** Who holds leases: the node id and a random part, new for every process. */
  readonly owner: string;
  readonly #config: JobsConfig;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #kinds = new Map<string, Kind>();
  readonly #running = new Map<string, { done: Promise<void>; abort: AbortController }>();
  /** Works held so far (`hold`), to name each in `#running`. */
  #holds = 0;
  #store: JobStore | null = null;
  #outcomes: JobOutcomes | null = null;
  #state: 'new' | 'running' | 'stopped' = 'new';
  #polling: Promise<number> | null = null;
  /** A poll was asked for while one ran. */
  #again = false;
  #pollTimer: NodeJS.Timeout | null = null;
  #wakeTimer: NodeJS.Timeout | null = null;
  #wakeAt = Number.POSITIVE_INFINITY;
  /** The last poll filled every free slot: poll again as soon as one frees. */
  #more = false;
  #lastSweep = Number.NEGATIVE_INFINITY;

  constructor(options: { config: JobsConfig; now: () => number; logger: Logger; nodeId: string; random?: () => number }) {
    this.#config = options.config;
    this.#now = options.now;
    this.#logger = options.logger;
    this.#random = options.random ?? Math.random;
    this.owner = `${options.nodeId}:${randomBytes(4).toString('hex')}`;
  }

  /** The jobs table; Unavailable until storage is open. */
  get store(): JobStore {
    if (!this.#store) throw new ReplyError(ErrorCode.Unavailable, 'jobs are starting');
    return this.#store;
  }

  /** Jobs running on this node now. */
  get active(): number {
    return this.#running.size;
  }

  open(storage: Storage): void {
    this.#store = new JobStore(storage);
    this.#outcomes = new JobOutcomes({ storage, store: () => this.store, now: this.#now, logger: this.#logger });
  }

  /**
   * Run `write` in the transaction of the next group of outcomes (see JobKindOptions.groupCommit):
   * what a handler records of its attempt commits with the attempt's completion, or before it.
   */
  grouped(write: (trx: JobExecutor) => Promise<void>): Promise<void> {
    if (!this.#outcomes) throw new ReplyError(ErrorCode.Unavailable, 'jobs are starting');
    return this.#outcomes.write(write);
  }

  /** Run jobs of `kind` with `handler` on this node; a kind has one handler. */
  handle(kind: string, handler: JobHandler, options: JobKindOptions = {}): void {
    if (this.#kinds.has(kind)) throw createError('SB_ERR_FEATURE_MANIFEST', `job kind "${kind}" has a handler already`);
    this.#kinds.set(kind, {
      handler,
      maxAttempts: options.maxAttempts,
      retryDelay: options.retryDelay,
      keepsFinished: options.keepsFinished === true,
      deletesDone: options.deletesDone === true,
      every: options.every,
      groupCommit: options.groupCommit === true,
      recordsAttempts: options.recordsAttempts === true,
    });
  }

  /**
   * Store a job (durable once this resolves); the job stored (`created` false: its id existed),
   * or `full`. With `trx`, the job is written in that transaction and commits with it (an
   * outbox: the job exists if and only if the change it reports does).
   */
  async add(job: AddJob, trx?: JobExecutor): Promise<{ job: Job; created: boolean } | 'full'> {
    const now = this.#now();
    const stored = await this.store.insert(
      {
        id: job.id ?? newId('job', now),
        kind: job.kind,
        tenant: job.tenant ?? '',
        payload: job.payload,
        dueAt: job.dueAt,
        maxAttempts: job.maxAttempts ?? this.#kinds.get(job.kind)?.maxAttempts ?? this.#config.maxAttempts,
        queue: job.queue ?? null,
      },
      now,
      job.cap,
      trx,
    );
    if (stored !== 'full' && stored.created) this.#wake(job.dueAt);
    return stored;
  }

  /**
   * Store new jobs with ids of their own (no cap) in a few statements, in `trx` when given: the
   * outbox of a change that makes many jobs at once.
   */
  async addMany(jobs: ReadonlyArray<Omit<AddJob, 'cap'>>, trx?: JobExecutor): Promise<void> {
    if (jobs.length === 0) return;
    const now = this.#now();
    await this.store.insertMany(
      jobs.map((job) => ({
        id: job.id ?? newId('job', now),
        kind: job.kind,
        tenant: job.tenant ?? '',
        payload: job.payload,
        dueAt: job.dueAt,
        maxAttempts: job.maxAttempts ?? this.#kinds.get(job.kind)?.maxAttempts ?? this.#config.maxAttempts,
        queue: job.queue ?? null,
      })),
      now,
      trx,
    );
    this.#wake(jobs.reduce((soonest, j) => Math.min(soonest, j.dueAt), Number.POSITIVE_INFINITY));
  }

  /**
   * Store the one job of a recurring kind, its id the kind (see JobStore.recur): due at
   * `dueAt`, one row however many nodes call this at start; a running one is left to its runner.
   */
  async recur(kind: string, dueAt: number): Promise<void> {
    const now = this.#now();
    const maxAttempts = this.#kinds.get(kind)?.maxAttempts ?? this.#config.maxAttempts;
    await this.store.recur({ id: kind, kind, tenant: '', payload: {}, dueAt, maxAttempts }, now);
    this.#wake(dueAt);
  }

  /** Borrow pending jobs of `kind` for a try outside their schedule (JobStore.borrow); those not pending now are left out. */
  async borrow(kind: string, ids: readonly string[]): Promise<BorrowedJobs> {
    return this.#borrowed(kind, await this.store.borrow(kind, ids, this.owner, this.#now(), this.#config.lease));
  }

  /** Borrow up to `limit` pending jobs of `kind` in `queue` due by `dueBy`, in due order (JobStore.borrowQueue). */
  async borrowQueue(kind: string, queue: string, dueBy: number, limit: number): Promise<BorrowedJobs> {
    return this.#borrowed(kind, await this.store.borrowQueue(kind, queue, dueBy, limit, this.owner, this.#now(), this.#config.lease));
  }

  #borrowed(kind: string, ids: string[]): BorrowedJobs {
    const store = this.store;
    const remove = this.#kinds.get(kind)?.deletesDone === true;
    return {
      ids,
      // In the next group commit of job outcomes, with the attempts recorded meanwhile (one commit, not two).
      done: async (result) => {
        let finished = 0;
        const finish = async (trx?: JobExecutor) => {
          finished = await store.finishBorrowed(ids, this.owner, result, this.#now(), trx, remove);
        };
        if (this.#outcomes && ids.length > 0) await this.#outcomes.write(finish);
        else await finish();
        return finished;
      },
      giveBack: (dueAt) => store.returnBorrowed(ids, this.owner, this.#now(), dueAt),
    };
  }

  /**
   * Run `work` on this node as the runner runs an attempt (a handler's follow-up that is no
   * job of its own, such as a batch of borrowed jobs): it takes one of the runner's slots, and
   * `stop` waits for it up to the grace, then aborts its signal. Refused once stopped.
   */
  hold<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#state !== 'running') return Promise.reject(new ReplyError(ErrorCode.Unavailable, 'the job runner is not running'));
    const key = `\u0000hold:${++this.#holds}`;
    const abort = new AbortController();
    const result = work(abort.signal);
    const done = result.then(
      () => {},
      () => {},
    );
    this.#running.set(key, { done, abort });
    void done.finally(() => this.#running.delete(key));
    return result;
  }

  /** Begin polling (after the handlers are registered). */
  start(): void {
    if (this.#state !== 'new') return;
    this.#state = 'running';
    void this.poll();
  }

  /**
   * One round: claim what is due for the free slots and start it. Resolves with the number
   * of jobs started (tests call it after moving the clock instead of waiting for the timer).
   */
  poll(): Promise<number> {
    if (this.#polling) {
      // A job added while a round reads the table may be missed by it: one more round follows.
      this.#again = true;
      return this.#polling;
    }
    this.#polling = this.#round().finally(() => {
      this.#polling = null;
      this.#schedulePoll();
      if (this.#again && this.#state === 'running') {
        this.#again = false;
        void this.poll();
      }
    });
    return this.#polling;
  }

  /**
   * Stop: no claim and no new attempt after this; attempts in progress get `grace` ms to end,
   * then their signals abort. Leases of attempts still running are left to expire.
   */
  async stop(grace: number): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    for (const t of [this.#pollTimer, this.#wakeTimer]) if (t) clearTimeout(t);
    await this.#polling;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, grace);
    });
    await Promise.race([Promise.allSettled([...this.#running.values()].map((r) => r.done)), late]);
    clearTimeout(timer);
    for (const r of this.#running.values()) r.abort.abort(new Error('the job runner stopped'));
    await this.#outcomes?.flush().catch((err: unknown) => this.#logger.warn({ err }, 'recording job outcomes at stop failed'));
  }

  async #round(): Promise<number> {
    if (this.#state !== 'running' || !this.#store) return 0;
    const free = this.#config.concurrency - this.#running.size;
    if (free <= 0) {
      this.#more = true;
      return 0;
    }
    const now = this.#now();
    try {
      await this.#sweep(now);
      const jobs = await this.#store.claim([...this.#kinds.keys()], this.owner, now, this.#config.lease, free);
      this.#more = jobs.length === free;
      for (const job of jobs) this.#launch(job);
      return jobs.length;
    } catch (err) {
      this.#logger.warn({ err }, 'claiming due jobs failed; retrying at the next poll');
      return 0;
    }
  }

  async #sweep(now: number): Promise<void> {
    if (now - this.#lastSweep < SWEEP_EVERY || !this.#store) return;
    this.#lastSweep = now;
    const kept = [...this.#kinds].filter(([, k]) => k.keepsFinished).map(([kind]) => kind);
    const deleted = await this.#store.sweep(now - this.#config.keepFinished, kept);
    if (deleted > 0) this.#logger.info({ deleted }, 'finished jobs deleted');
  }

  #schedulePoll(): void {
    if (this.#state !== 'running') return;
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => void this.poll(), this.#config.pollInterval);
    this.#pollTimer.unref();
  }

  /** A job due before the next poll: poll when it is due. */
  #wake(dueAt: number): void {
    if (this.#state !== 'running') return;
    const delay = Math.max(0, dueAt - this.#now());
    if (delay >= this.#config.pollInterval || dueAt >= this.#wakeAt) return;
    if (this.#wakeTimer) clearTimeout(this.#wakeTimer);
    this.#wakeAt = dueAt;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = null;
      this.#wakeAt = Number.POSITIVE_INFINITY;
      void this.poll();
    }, delay);
    this.#wakeTimer.unref();
  }

  #launch(job: Job): void {
    const abort = new AbortController();
    const done = this.#attempt(job, abort).finally(() => {
      this.#running.delete(job.id);
      // With a backlog, claim again once a quarter of the slots are free: one claim per few
      // finished jobs, not one per job (each claim is a statement).
      if (this.#more && this.#state === 'running' && this.#config.concurrency - this.#running.size >= Math.ceil(this.#config.concurrency / 4)) void this.poll();
    });
    this.#running.set(job.id, { done, abort });
  }

  async #attempt(job: Job, abort: AbortController): Promise<void> {
    const store = this.store;
    const claim = { id: job.id, owner: this.owner, attempt: job.attempts };
    // Made only when something is logged: most attempts log nothing.
    const log = {
      warn: (obj: object, msg?: string) => this.#logger.warn({ job: job.id, kind: job.kind, attempt: job.attempts, ...obj }, msg),
      debug: (obj: object, msg?: string) => this.#logger.debug({ job: job.id, kind: job.kind, attempt: job.attempts, ...obj }, msg),
    };
    const kind = this.#kinds.get(job.kind);
    try {
      // Taken over from a runner that died during the last attempt allowed: nothing is left to try.
      if (!kind || job.attempts > job.maxAttempts) {
        await store.fail(claim, job.lastError ?? 'no attempt left (the lease of the last one ended)', null, this.#now());
        return;
      }
      const beat = setInterval(
        () => {
          store.heartbeat(claim, this.#now() + this.#config.lease).then(
            (holds) => {
              if (!holds) abort.abort(new Error('the lease was lost'));
            },
            (err) => log.warn({ err }, 'renewing a job lease failed'),
          );
        },
        Math.max(1, Math.floor(this.#config.lease / 3)),
      );
      beat.unref();
      try {
        const began = this.#now();
        const result = await kind.handler(job, abort.signal);
        // Only the kind's one row recurs (see recur): another of its kind ends as done.
        const every = job.id === job.kind ? (kind.every?.() ?? 0) : 0;
        const next = every > 0 ? began + every : null;
        const recorded =
          next !== null
            ? await store.reschedule(claim, result, next, this.#now())
            : kind.groupCommit && this.#outcomes
              ? await this.#outcomes.complete(claim, result, kind.deletesDone)
              : await store.complete(claim, result, this.#now(), kind.deletesDone);
        if (!recorded) log.warn({}, 'a job finished after its lease was lost; its result is not recorded');
        else if (next !== null) this.#wake(next);
      } catch (err) {
        const last = job.attempts >= job.maxAttempts || (err instanceof ReplyError && !err.temporary);
        const delay = last ? null : kind.retryDelay ? kind.retryDelay(job, err) : this.#backoff(job.attempts);
        const dueAt = delay === null ? null : this.#now() + delay;
        if (dueAt !== null && kind.recordsAttempts) log.debug({ err: messageOf(err), retryAt: dueAt }, 'job attempt failed; retrying');
        else log.warn({ err: messageOf(err), retryAt: dueAt }, dueAt === null ? 'job failed' : 'job attempt failed; retrying');
        await store.fail(claim, messageOf(err), dueAt, this.#now());
      } finally {
        clearInterval(beat);
      }
    } catch (err) {
      // Storage failed while recording the outcome: the lease runs out and the job runs again.
      log.warn({ err }, 'recording a job outcome failed');
    }
  }

  /** Wait before attempt `attempt + 1`: `backoff` doubled per attempt, capped, ±20 %. */
  #backoff(attempt: number): number {
    const base = Math.min(this.#config.maxBackoff, this.#config.backoff * 2 ** Math.max(0, attempt - 1));
    return Math.round(base * (0.8 + 0.4 * this.#random()));
  }
}
