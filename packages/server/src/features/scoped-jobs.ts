import type { AddJob, BorrowedJobs, JobHandler, JobKindOptions, JobRunner } from '../storage/job-runner.js';
import type { Job, JobExecutor } from '../storage/job-store.js';

/**
 * The node's job runner as a feature sees it: kinds are scoped to the feature (`kind`
 * travels as `<feature>.<kind>`), so features cannot run or read each other's jobs.
 */
export interface FeatureJobs {
  /** Run this feature's jobs of `kind` on this node (register in `start`). */
  handle(kind: string, handler: JobHandler, options?: JobKindOptions): void;
  /** Store a job; durable once this resolves. `full` when `cap` unfinished jobs of the kind exist for the tenant. */
  add(job: AddJob, trx?: JobExecutor): Promise<{ job: Job; created: boolean } | 'full'>;
  /**
   * The one job of a recurring `kind` (registered with `every`), its id the scoped kind:
   * due at `dueAt` (unless it runs now), one row for the cluster however many nodes start together.
   */
  recur(kind: string, dueAt: number): Promise<void>;
  /** Store new jobs with ids of their own (no cap) in a few statements, in `trx` when given. */
  addMany(jobs: ReadonlyArray<Omit<AddJob, 'cap'>>, trx?: JobExecutor): Promise<void>;
  /** Run `write` in the next group commit of job outcomes (a kind registered with `groupCommit`). */
  grouped(write: (trx: JobExecutor) => Promise<void>): Promise<void>;
  /** Poll for due jobs now (after a transaction that added some committed). */
  poll(): Promise<number>;
  get(kind: string, tenant: string, id: string): Promise<Job | undefined>;
  /** Cancel a pending job: `not-found`, or the job and whether it was still pending. */
  cancel(kind: string, tenant: string, id: string): Promise<{ cancelled: boolean; job: Job } | 'not-found'>;
  /** Take this feature's pending jobs for a try outside their schedule (no attempt counted); those not pending now are left out. */
  borrow(kind: string, ids: readonly string[]): Promise<BorrowedJobs>;
  /** Take up to `limit` of this feature's pending jobs of `kind` in `queue` due by `dueBy`, in due order, as `borrow` does. */
  borrowQueue(kind: string, queue: string, dueBy: number, limit: number): Promise<BorrowedJobs>;
  /** Run `work` in one of the runner's slots, waited for (then aborted) at stop like an attempt. */
  hold<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** A pending job of this feature becomes due no sooner than `dueAt` (in `trx` when given). */
  postpone(kind: string, id: string, dueAt: number, trx?: JobExecutor): Promise<boolean>;
}

export function featureJobs(feature: string, jobs: JobRunner, now: () => number): FeatureJobs {
  const scoped = (kind: string) => `${feature}.${kind}`;
  return {
    handle: (kind, handler, options) => jobs.handle(scoped(kind), handler, options),
    add: (job, trx) => jobs.add({ ...job, kind: scoped(job.kind) }, trx),
    recur: (kind, dueAt) => jobs.recur(scoped(kind), dueAt),
    addMany: (list, trx) =>
      jobs.addMany(
        list.map((job) => ({ ...job, kind: scoped(job.kind) })),
        trx,
      ),
    grouped: (write) => jobs.grouped(write),
    poll: () => jobs.poll(),
    get: (kind, tenant, id) => jobs.store.get(scoped(kind), tenant, id),
    cancel: (kind, tenant, id) => jobs.store.cancel(scoped(kind), tenant, id, now()),
    borrow: (kind, ids) => jobs.borrow(scoped(kind), ids),
    borrowQueue: (kind, queue, dueBy, limit) => jobs.borrowQueue(scoped(kind), queue, dueBy, limit),
    hold: (work) => jobs.hold(work),
    postpone: (kind, id, dueAt, trx) => jobs.store.postpone(scoped(kind), id, dueAt, now(), trx),
  };
}
