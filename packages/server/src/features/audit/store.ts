import type { Kysely, Transaction } from 'kysely';
import type { CursorPosition } from '../../storage/paging.js';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import type { PendingEntry } from './aggregator.js';
import type { AuditEntryTable, AuditTables } from './tables.js';

type Db = Kysely<SharedTables & AuditTables>;

/** An entry as the API and webhook events show it: a written PendingEntry with its id. */
export interface AuditEntry extends PendingEntry {
  id: string;
}

export interface AuditQuery {
  /** An exact type, or `group.*` (every type that starts with `group.`). */
  type?: string | undefined;
  user?: string | undefined;
  ip?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  after?: CursorPosition | undefined;
  limit: number;
}

/** Rows per INSERT: well under both stores' bound on parameters per statement. */
const CHUNK = 200;

export const toEntry = (r: AuditEntryTable): AuditEntry => ({
  id: r.id,
  tenant: r.tenant === '' ? null : r.tenant,
  type: r.type,
  at: Number(r.at),
  user: r.user_id,
  ip: r.ip,
  count: Number(r.count),
  firstAt: Number(r.first_at),
  lastAt: Number(r.last_at),
  detail: JSON.parse(r.detail) as Record<string, unknown>,
});

/** The audit table: batched inserts, tenant-scoped pages newest first, the retention delete. */
export class AuditStore {
  readonly db: Db;

  constructor(private readonly storage: Storage) {
    this.db = storage.tables<AuditTables>();
  }

  /** Insert rows in one transaction; `inTrx` runs in it after the inserts (the webhook events). */
  async insert(rows: AuditEntryTable[], inTrx?: (trx: Transaction<SharedTables>) => Promise<void>): Promise<void> {
    if (rows.length === 0) return;
    await this.storage.transaction(async (trx) => {
      const t = trx as unknown as Transaction<SharedTables & AuditTables>;
      for (let i = 0; i < rows.length; i += CHUNK)
        await t
          .insertInto('sb_audit_entries')
          .values(rows.slice(i, i + CHUNK))
          .execute();
      if (inTrx) await inTrx(trx);
    });
  }

  /** A page of one scope ('' : the system scope), newest first by (at, id). */
  async page(tenant: string, q: AuditQuery): Promise<AuditEntryTable[]> {
    let query = this.db.selectFrom('sb_audit_entries').selectAll().where('tenant', '=', tenant);
    if (q.type !== undefined) {
      if (q.type.endsWith('.*')) {
        const prefix = q.type.slice(0, -1);
        query = query.where('type', '>=', prefix).where('type', '<', `${prefix.slice(0, -1)}/`);
      } else query = query.where('type', '=', q.type);
    }
    if (q.user !== undefined) query = query.where('user_id', '=', q.user);
    if (q.ip !== undefined) query = query.where('ip', '=', q.ip);
    if (q.from !== undefined) query = query.where('at', '>=', q.from);
    if (q.to !== undefined) query = query.where('at', '<=', q.to);
    const after = q.after;
    if (after) query = query.where((eb) => eb.or([eb('at', '<', after.time), eb.and([eb('at', '=', after.time), eb('id', '<', after.id)])]));
    return query
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit + 1)
      .execute();
  }

  /** Delete entries older than `before` (Unix ms); how many. */
  async sweep(before: number): Promise<number> {
    const res = await this.db.deleteFrom('sb_audit_entries').where('at', '<', before).executeTakeFirst();
    return Number(res.numDeletedRows ?? 0);
  }
}
