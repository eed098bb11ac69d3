import { createHash } from 'node:crypto';
import { ErrorCode, type Tags } from '@switchboard/protocol';
import { ReplyError } from '../errors/reply-error.js';
import { storageCall } from '../storage/failures.js';
import { newId } from '../storage/ids.js';
import type { JobRunner } from '../storage/job-runner.js';
import type { Job } from '../storage/job-store.js';
import { decodeCursor, encodeCursor } from '../storage/paging.js';
import type { JobStatus } from '../storage/tables.js';
import type { NodeContext } from './context.js';
import { checkTags } from './tag-filter.js';

/** The job kind of scheduled publications (features' kinds are `<feature>.<kind>`). */
export const PUBLISH_JOB = 'publish';
/** How far in the past a `publishAt` may lie (clocks of backend and server disagree a little): published at once. */
export const SCHEDULE_PAST_TOLERANCE = 5000;

export type ScheduledStatus = 'pending' | 'running' | 'delivered' | 'failed' | 'cancelled';

/** A scheduled publication as the HTTP API shows it. */
export interface ScheduledPublication {
  id: string;
  channel: string;
  data: unknown;
  /** Unix ms it is (or was) due. */
  publishAt: number;
  /** The tags it is published with, if any. */
  tags?: Tags;
  status: ScheduledStatus;
  attempts: number;
  createdAt: number;
  /** Once delivered: where it is in the channel's stream. */
  result?: { offset: number; epoch: string };
  /** The last failed attempt's error (the next attempt follows after a backoff, unless `failed`). */
  error?: string;
}

interface Payload {
  channel: string;
  data: unknown;
  publishAt: number;
  tags?: Tags;
}

const STATUS_OF: Record<JobStatus, ScheduledStatus> = { pending: 'pending', running: 'running', done: 'delivered', failed: 'failed', cancelled: 'cancelled' };
const JOB_STATUS: Record<ScheduledStatus, JobStatus> = { pending: 'pending', running: 'running', delivered: 'done', failed: 'failed', cancelled: 'cancelled' };

function view(job: Job): ScheduledPublication {
  const p = job.payload as Payload;
  const out: ScheduledPublication = {
    id: job.id,
    channel: p.channel,
    data: p.data,
    publishAt: p.publishAt,
    ...(p.tags ? { tags: p.tags } : {}),
    status: STATUS_OF[job.status],
    attempts: job.attempts,
    createdAt: job.createdAt,
  };
  if (job.status === 'done' && job.result) out.result = job.result as { offset: number; epoch: string };
  if (job.lastError && job.status !== 'done') out.error = job.lastError;
  return out;
}

/**
 * Publications scheduled over the HTTP API: stored as jobs of the job runner, delivered at
 * their time through the node's normal publish (namespace, size, payload schema, hooks) with
 * the job's id as the idempotency key, so an attempt repeated after a crash or a lost lease
 * is deduplicated by the broker instead of published twice. Tenant-scoped throughout: another
 * tenant's id is not found.
 */
export class ScheduledPublications {
  constructor(
    private readonly node: NodeContext,
    private readonly jobs: JobRunner,
  ) {}

  /** Run the scheduled publications that fall due on this node. */
  register(): void {
    this.jobs.handle(PUBLISH_JOB, (job) => this.#deliver(job));
  }

  /**
   * Schedule `data` on `channel` at `at` (Unix ms). The channel, size and payload schema are
   * checked now and again at delivery. With `key`, a repeat answers the first schedule.
   */
  async schedule(
    tenant: string,
    channel: string,
    data: unknown,
    at: number,
    key?: string,
    tags?: Tags,
  ): Promise<{ scheduled: ScheduledPublication; created: boolean }> {
    const ch = this.node.resolve(tenant, channel);
    const text = JSON.stringify(data);
    this.node.checkPublicationSize(ch, text);
    this.node.checkPayload(ch, 'publication', data);
    if (tags !== undefined) checkTags(ch, tags, this.node.limits);
    const now = this.node.now();
    if (at < now - SCHEDULE_PAST_TOLERANCE) throw new ReplyError(ErrorCode.InvalidSchedule, `publishAt ${new Date(at).toISOString()} is in the past`);
    const ahead = this.node.limits.maxScheduleAhead;
    if (at > now + ahead) throw new ReplyError(ErrorCode.InvalidSchedule, `publishAt is more than limits.maxScheduleAhead (${ahead} ms) ahead`);
    const id = key === undefined ? newId('pub', now) : `pub_${createHash('sha256').update(`${tenant}\n${key}`).digest('hex').slice(0, 40)}`;
    const payload: Payload = { channel, data, publishAt: at, ...(tags !== undefined ? { tags } : {}) };
    const stored = await this.#storage(this.jobs.add({ kind: PUBLISH_JOB, tenant, id, payload, dueAt: at, cap: this.node.limits.maxScheduledPerTenant }));
    if (stored === 'full')
      throw new ReplyError(ErrorCode.LimitExceeded, `${this.node.limits.maxScheduledPerTenant} scheduled publications pending (limits.maxScheduledPerTenant)`);
    return { scheduled: view(stored.job), created: stored.created };
  }

  async get(tenant: string, id: string): Promise<ScheduledPublication> {
    const job = await this.#storage(this.jobs.store.get(PUBLISH_JOB, tenant, id));
    if (!job) throw new ReplyError(ErrorCode.NotFound, 'no such scheduled publication');
    return view(job);
  }

  /** Soonest first; `status` filters; `cursor` from the previous page. */
  async list(
    tenant: string,
    q: { status?: ScheduledStatus; cursor?: string; limit: number },
  ): Promise<{ scheduled: ScheduledPublication[]; nextCursor: string | null }> {
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const statuses = q.status ? [JOB_STATUS[q.status]] : undefined;
    const rows = await this.#storage(
      this.jobs.store.list(PUBLISH_JOB, tenant, { limit: q.limit, ...(statuses ? { statuses } : {}), ...(after ? { after } : {}) }),
    );
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return { scheduled: page.map(view), nextCursor: rows.length > q.limit && last ? encodeCursor({ time: last.dueAt, id: last.id }) : null };
  }

  /** Cancel a pending publication; one already delivered, being delivered, failed or cancelled is NotPending (409). */
  async cancel(tenant: string, id: string): Promise<ScheduledPublication> {
    const outcome = await this.#storage(this.jobs.store.cancel(PUBLISH_JOB, tenant, id, this.node.now()));
    if (outcome === 'not-found') throw new ReplyError(ErrorCode.NotFound, 'no such scheduled publication');
    if (!outcome.cancelled) throw new ReplyError(ErrorCode.NotPending, `the scheduled publication is ${STATUS_OF[outcome.job.status]}`);
    return view(outcome.job);
  }

  async #deliver(job: Job): Promise<{ offset: number; epoch: string }> {
    const p = job.payload as Payload;
    // Checked again: the namespace or its schema may have changed since it was scheduled.
    const ch = this.node.resolve(job.tenant, p.channel);
    const text = JSON.stringify(p.data);
    this.node.checkPublicationSize(ch, text);
    this.node.checkPayload(ch, 'publication', p.data);
    const outcome = await this.node.publish(ch, text, { idempotencyKey: job.id, ...(p.tags ? { tags: p.tags } : {}) });
    return { offset: outcome.offset, epoch: outcome.epoch };
  }

  #storage<T>(op: Promise<T>): Promise<T> {
    return storageCall(op, (err) => this.node.logger.warn({ err }, 'scheduled publications: storage unavailable'));
  }
}
