import { ErrorCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { SecurityEvent } from '../../core/security-events.js';
import { ReplyError } from '../../errors/reply-error.js';
import { newId } from '../../storage/ids.js';
import type { JobExecutor } from '../../storage/job-store.js';
import { decodeCursor, pageOf } from '../../storage/paging.js';
import type { FeatureEvents } from '../events.js';
import { type AuditAggregator, type AuditInput, OVERFLOW_TYPE, type PendingEntry } from './aggregator.js';
import type { AuditConfig } from './config.js';
import { AUDIT_TYPE_NAMES } from './events.js';
import type { AuditMetrics } from './metrics.js';
import { type AuditEntry, type AuditStore, toEntry } from './store.js';
import type { AuditEntryTable } from './tables.js';

/** Largest `detail` of an entry, bytes of JSON; a larger one is replaced by `{ truncated: true }`. */
export const MAX_DETAIL_BYTES = 2048;
/** Admin actions waiting for their write, at most (beyond, they are counted as lost). */
const MAX_IMMEDIATE = 10_000;

export interface AuditQueryInput {
  type?: string | undefined;
  user?: string | undefined;
  ip?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  cursor?: string | undefined;
  limit?: number | undefined;
}

interface Options {
  store: AuditStore;
  aggregator: AuditAggregator;
  events: FeatureEvents;
  metrics: AuditMetrics;
  config: () => AuditConfig;
  now: () => number;
  logger: Logger;
}

/**
 * The audit log: hears the node's security door, aggregates per minute, writes in batches
 * (each tenant entry also an `audit.<type>` webhook event, in the same transaction), answers
 * queries per scope. Its service (`server.feature<AuditLog>('audit')`).
 */
export class AuditLog {
  #immediate: PendingEntry[] = [];
  #writing: Promise<number> = Promise.resolve(0);
  #soon: NodeJS.Immediate | null = null;

  constructor(private readonly o: Options) {}

  /** A notice from the security door: counted in its window, or queued for a write of its own (admin actions). */
  hear(e: SecurityEvent): void {
    const at = this.o.now();
    if (e.type.startsWith('admin.')) {
      const a = e as Extract<SecurityEvent, { actor: unknown }>;
      if (this.#immediate.length >= MAX_IMMEDIATE) {
        this.o.metrics.lost(1);
        return;
      }
      this.#immediate.push({
        tenant: a.tenant,
        type: a.type,
        at,
        user: null,
        ip: a.actor.ip,
        count: 1,
        firstAt: at,
        lastAt: at,
        detail: { actor: { keyId: a.actor.keyId }, target: a.target },
      });
      this.#writeSoon();
      return;
    }
    const input = toInput(e, at);
    if (!input) return;
    this.o.metrics.outcome(this.o.aggregator.add(input), input.count);
  }

  /** Write the entries of windows that ended (the flush timer). */
  flushDue(): Promise<number> {
    return this.#write(() => this.o.aggregator.takeDue(this.o.now()));
  }

  /** Write everything held, the current window too (shutdown; tests). Resolves with the rows written. */
  flush(): Promise<number> {
    return this.#write(() => this.o.aggregator.takeAll());
  }

  /** A page of a scope (`null`: the system scope), newest first. */
  async query(tenant: string | null, q: AuditQueryInput): Promise<{ entries: AuditEntry[]; nextCursor: string | null }> {
    if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw new ReplyError(ErrorCode.InvalidRange, 'from: after to');
    const after = q.cursor !== undefined ? decodeCursor(q.cursor) : undefined;
    const limit = Math.min(q.limit ?? this.o.config().pageSize, this.o.config().pageSize);
    const rows = await this.o.store.page(tenant ?? '', { type: q.type, user: q.user, ip: q.ip, from: q.from, to: q.to, after, limit });
    const page = pageOf(rows, limit, (r) => ({ time: Number(r.at), id: r.id }));
    return { entries: page.rows.map(toEntry), nextCursor: page.nextCursor };
  }

  /** Delete entries older than the retention; how many. */
  sweep(): Promise<number> {
    return this.o.store.sweep(this.o.now() - this.o.config().retention);
  }

  #writeSoon(): void {
    if (this.#soon) return;
    this.#soon = setImmediate(() => {
      this.#soon = null;
      void this.#write(() => []);
    });
  }

  /** One write at a time, in order: what `take` gives, with the admin actions queued. */
  #write(take: () => PendingEntry[]): Promise<number> {
    const run = this.#writing.then(async () => {
      const pending = [...this.#immediate.splice(0), ...take()];
      if (pending.length === 0) return 0;
      const rows = pending.map(toRow);
      try {
        await this.o.store.insert(rows, (trx) => this.#emit(rows, trx as unknown as JobExecutor));
      } catch (err) {
        this.o.logger.warn({ err, rows: rows.length }, 'writing audit entries failed; kept for the next flush');
        this.o.metrics.lost(this.o.aggregator.requeue(pending));
        return 0;
      }
      this.o.events.committed();
      for (const r of rows) this.o.metrics.written(r.type);
      return rows.length;
    });
    this.#writing = run.catch(() => 0);
    return run;
  }

  async #emit(rows: AuditEntryTable[], trx: JobExecutor): Promise<void> {
    for (const r of rows) {
      if (r.tenant === '' || !AUDIT_TYPE_NAMES.has(r.type)) continue;
      const type = `audit.${r.type}`;
      if (!this.o.events.wanted(r.tenant, type)) continue;
      const { tenant: _tenant, ...data } = toEntry(r);
      await this.o.events.emit(type, r.tenant, data, { trx });
    }
  }

  /** Stop the pending immediate write (the feature's stop flushes after). */
  stop(): void {
    if (this.#soon) clearImmediate(this.#soon);
    this.#soon = null;
  }
}

function toRow(p: PendingEntry): AuditEntryTable {
  let detail = JSON.stringify(p.detail);
  if (Buffer.byteLength(detail) > MAX_DETAIL_BYTES) detail = '{"truncated":true}';
  return {
    id: newId('aud', p.at),
    tenant: p.tenant ?? '',
    type: p.type,
    at: p.at,
    user_id: p.user,
    ip: p.ip,
    count: p.count,
    first_at: p.firstAt,
    last_at: p.lastAt,
    detail,
  };
}

/** A notice as the aggregator keys it: what the type adds to (type, tenant, user, IP). */
function toInput(e: SecurityEvent, at: number): AuditInput | null {
  const base = { at, count: 1 };
  switch (e.type) {
    case 'auth.failed':
      return {
        ...base,
        type: e.type,
        tenant: e.tenant,
        user: e.user,
        ip: e.ip,
        subject: `${e.reason}|${e.fingerprint ?? ''}`,
        detail: () => ({ reason: e.reason, fingerprint: e.fingerprint, command: e.command }),
      };
    case 'limit.connections':
      return { ...base, type: e.type, tenant: e.tenant, user: e.user, ip: e.ip, subject: e.scope, detail: () => ({ scope: e.scope }) };
    case 'limit.rate':
      return { ...base, count: e.count, type: e.type, tenant: e.tenant, user: e.user, ip: e.ip, subject: e.limit, detail: () => ({ limit: e.limit }) };
    case 'channel.forbidden':
      return {
        ...base,
        type: e.type,
        tenant: e.tenant,
        user: e.user,
        ip: e.ip,
        subject: `${e.action}|${e.reason}|${e.channel}`,
        detail: () => ({ channel: e.channel, action: e.action, reason: e.reason }),
      };
    case 'apikey.used':
      return { ...base, type: e.type, tenant: e.tenant, user: null, ip: e.ip, subject: e.keyId, detail: () => ({ keyId: e.keyId, admin: e.admin }) };
    case 'apikey.failed':
      return {
        ...base,
        type: e.type,
        tenant: e.tenant,
        user: null,
        ip: e.ip,
        subject: `${e.reason}|${e.keyId ?? ''}`,
        detail: () => ({ reason: e.reason, keyId: e.keyId }),
      };
    default:
      return null;
  }
}

export { OVERFLOW_TYPE };
