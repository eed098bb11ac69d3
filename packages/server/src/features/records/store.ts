import { ErrorCode, type RecordChange, type RecordField, type RecordPush, type RecordWriteResult } from '@switchboard/protocol';
import { type Kysely, sql } from 'kysely';
import { ReplyError } from '../../errors/reply-error.js';
import { idempotencyKeys } from '../../storage/idempotency.js';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import type { RecordRules } from './config.js';
import { decide, type KeyMark, type StoredField, type Writer } from './policy.js';
import type { RecordFieldTable, RecordTables } from './tables.js';

type Db = Kysely<SharedTables & RecordTables>;

const KEY_SCOPE = 'records';

export interface WriteRequest {
  tenant: string;
  channel: string;
  base: number;
  changes: readonly RecordChange[];
  writer: Writer;
  rules: RecordRules;
  /** As stored: `user:<sub>:<key>` or `api:<key>`. */
  idempotencyKey?: string | undefined;
}

/** A committed write: its answer, and the push to publish (null when it was a retry of one already done). */
export interface Committed {
  result: RecordWriteResult;
  push: RecordPush | null;
}

export interface StoredRecord {
  version: number;
  fields: Record<string, RecordField>;
}

export interface RecordPage {
  records: Array<{ channel: string; version: number; updatedAt: number }>;
  nextCursor: string | null;
}

function toStored(row: RecordFieldTable): StoredField {
  return {
    value: JSON.parse(row.value) as unknown,
    version: Number(row.version),
    author: row.author,
    session: row.session,
    updatedAt: Number(row.updated_at),
    keys: row.key_marks === null ? null : (JSON.parse(row.key_marks) as Record<string, KeyMark>),
  };
}

const wireField = (f: StoredField): RecordField => ({ value: f.value, version: f.version, author: f.author, updatedAt: f.updatedAt });

/**
 * Records in storage. A write is one transaction: it locks the record's row (created at
 * version 0 when new; `FOR UPDATE` on PostgreSQL, SQLite has one writer at a time), reads the
 * fields, decides by the policies, and writes the changed fields and the next version, so
 * concurrent writers on any number of nodes are serialised per record and versions have no
 * gaps. Callers publish what committed.
 */
export class RecordStore {
  readonly #db: Db;

  constructor(
    private readonly storage: Storage,
    private readonly now: () => number,
  ) {
    this.#db = storage.tables<RecordTables>();
  }

  async read(tenant: string, channel: string): Promise<StoredRecord> {
    const record = await this.#db.selectFrom('sb_records').select('version').where('tenant', '=', tenant).where('channel', '=', channel).executeTakeFirst();
    if (!record) return { version: 0, fields: {} };
    const rows = await this.#db
      .selectFrom('sb_record_fields')
      .selectAll()
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .orderBy('field')
      .execute();
    return { version: Number(record.version), fields: Object.fromEntries(rows.map((r) => [r.field, wireField(toStored(r))])) };
  }

  /** Records of a tenant whose channel starts with `prefix`, by channel name, after `cursor`. */
  async list(tenant: string, prefix: string, cursor: string | undefined, limit: number): Promise<RecordPage> {
    let q = this.#db.selectFrom('sb_records').select(['channel', 'version', 'updated_at']).where('tenant', '=', tenant).where('version', '>', 0);
    if (prefix !== '') q = q.where(sql<boolean>`substr(channel, 1, ${[...prefix].length}) = ${prefix}`);
    if (cursor !== undefined) q = q.where('channel', '>', cursor);
    const rows = await q
      .orderBy('channel')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit);
    return {
      records: page.map((r) => ({ channel: r.channel, version: Number(r.version), updatedAt: Number(r.updated_at) })),
      nextCursor: rows.length > limit ? (page[page.length - 1]?.channel ?? null) : null,
    };
  }

  write(req: WriteRequest): Promise<Committed> {
    return this.#db.transaction().execute(async (trx) => {
      const now = this.now();
      const { tenant, channel } = req;
      if (req.idempotencyKey !== undefined) {
        const claim = await idempotencyKeys.claim<RecordWriteResult, SharedTables & RecordTables>(trx, tenant, KEY_SCOPE, req.idempotencyKey, now);
        if (!claim.first) return { result: { ...claim.result, deduplicated: true }, push: null };
      }
      await trx
        .insertInto('sb_records')
        .values({ tenant, channel, version: 0, field_count: 0, bytes: 0, updated_at: now })
        .onConflict((oc) => oc.columns(['tenant', 'channel']).doNothing())
        .execute();
      let locked = trx.selectFrom('sb_records').select(['version', 'field_count', 'bytes']).where('tenant', '=', tenant).where('channel', '=', channel);
      if (this.storage.kind === 'postgres') locked = locked.forUpdate();
      const record = await locked.executeTakeFirstOrThrow();
      const current = Number(record.version);
      if (req.base > current) throw new ReplyError(ErrorCode.BadRequest, `base: ${req.base} is ahead of the record's version ${current}`);
      // Only the fields the write changes: the record's totals stand for the others.
      const names = req.changes.map((c) => c.field);
      const rows = await trx
        .selectFrom('sb_record_fields')
        .selectAll()
        .where('tenant', '=', tenant)
        .where('channel', '=', channel)
        .where('field', 'in', names)
        .execute();
      const stored = new Map(rows.map((r) => [r.field, toStored(r)]));
      const version = current + 1;
      const outcome = decide(stored, { base: req.base, changes: req.changes, writer: req.writer }, req.rules, version, now);
      if (!outcome.ok) {
        const err = new ReplyError(ErrorCode.RecordConflict, `${outcome.conflicts.map((c) => c.field).join(', ')} changed since version ${req.base}`);
        err.data = { version: current, conflicts: outcome.conflicts };
        throw err;
      }
      const totals = sizeAfter(req.rules, { count: Number(record.field_count), bytes: Number(record.bytes) }, rows, outcome.fields);
      for (const [field, f] of outcome.fields) {
        const row: RecordFieldTable = {
          tenant,
          channel,
          field,
          value: JSON.stringify(f.value),
          version: f.version,
          author: f.author,
          session: f.session,
          key_marks: f.keys === null ? null : JSON.stringify(f.keys),
          updated_at: now,
        };
        const { tenant: _t, channel: _c, field: _f, ...rest } = row;
        await trx
          .insertInto('sb_record_fields')
          .values(row)
          .onConflict((oc) => oc.columns(['tenant', 'channel', 'field']).doUpdateSet(rest))
          .execute();
      }
      await trx
        .updateTable('sb_records')
        .set({ version, field_count: totals.count, bytes: totals.bytes, updated_at: now })
        .where('tenant', '=', tenant)
        .where('channel', '=', channel)
        .execute();
      const fields = Object.fromEntries([...outcome.fields].map(([name, f]) => [name, wireField(f)]));
      const result: RecordWriteResult = { version, fields, replaced: outcome.replaced };
      if (req.idempotencyKey !== undefined) await idempotencyKeys.complete(trx, tenant, KEY_SCOPE, req.idempotencyKey, result);
      const push: RecordPush = {
        kind: 'record',
        version,
        author: req.writer.author,
        ...(req.writer.session !== null ? { session: req.writer.session } : {}),
        fields,
        replaced: outcome.replaced,
      };
      return { result, push };
    });
  }

  /** Forget idempotency keys of writes older than `ttl` ms. */
  sweep(ttl: number): Promise<number> {
    return idempotencyKeys.sweep(this.#db, KEY_SCOPE, this.now() - ttl);
  }
}

/**
 * The record's field count and bytes after the write, from its totals before and the changed
 * fields' old and new values: 114 for a field or record over its size, 106 for too many
 * fields (the write then changes nothing).
 */
function sizeAfter(
  rules: RecordRules,
  before: { count: number; bytes: number },
  old: readonly RecordFieldTable[],
  changed: ReadonlyMap<string, StoredField>,
): { count: number; bytes: number } {
  const count = before.count + changed.size - old.length;
  let bytes = before.bytes;
  for (const row of old) bytes -= Buffer.byteLength(row.value);
  for (const [field, f] of changed) {
    const size = Buffer.byteLength(JSON.stringify(f.value));
    if (size > rules.maxFieldBytes)
      throw new ReplyError(ErrorCode.PayloadTooLarge, `the field "${field}" would be ${size} bytes of JSON, above ${rules.maxFieldBytes}`);
    bytes += size;
  }
  if (count > rules.maxFields) throw new ReplyError(ErrorCode.LimitExceeded, `a record has at most ${rules.maxFields} fields`);
  if (bytes > rules.maxRecordBytes)
    throw new ReplyError(ErrorCode.PayloadTooLarge, `the record would be ${bytes} bytes of JSON, above ${rules.maxRecordBytes}`);
  return { count, bytes };
}
