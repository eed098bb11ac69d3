import { ErrorCode } from '@switchboard/protocol';
import type { Kysely, Transaction } from 'kysely';
import { ReplyError } from '../errors/reply-error.js';
import type { SharedTables } from './tables.js';

export type Claim<R> = { first: true } | { first: false; result: R };

/** A feature's query layer has its own tables beside the shared ones; these functions use only the shared. */
const shared = <DB extends SharedTables>(db: Kysely<DB>): Kysely<SharedTables> => db as unknown as Kysely<SharedTables>;

/**
 * Idempotency keys of create requests, unique per (tenant, scope, key). The key is claimed
 * in the same transaction as the rows it creates, so a retry either finds the committed
 * result or (when the first attempt rolled back) creates the rows itself: never twice.
 */
export const idempotencyKeys = {
  /** Claim `key` inside `trx`; when it was used before, the first request's result. */
  async claim<R, DB extends SharedTables>(tx: Transaction<DB>, tenant: string, scope: string, key: string, now: number): Promise<Claim<R>> {
    const trx = shared(tx);
    const inserted = await trx
      .insertInto('sb_idempotency_keys')
      .values({ tenant, scope, key, result: null, created_at: now })
      .onConflict((oc) => oc.columns(['tenant', 'scope', 'key']).doNothing())
      .returning('key')
      .execute();
    if (inserted.length > 0) return { first: true };
    const row = await trx
      .selectFrom('sb_idempotency_keys')
      .select('result')
      .where('tenant', '=', tenant)
      .where('scope', '=', scope)
      .where('key', '=', key)
      .executeTakeFirst();
    if (!row || row.result === null) throw new ReplyError(ErrorCode.Unavailable, 'a request with this idempotency key is in progress');
    return { first: false, result: JSON.parse(row.result) as R };
  },

  /**
   * Claim several keys at once inside `trx` (distinct keys): for each, `{ first: true }`, the
   * first request's result, or the in-progress error for that key alone.
   */
  async claimMany<R, DB extends SharedTables>(
    tx: Transaction<DB>,
    tenant: string,
    scope: string,
    keys: readonly string[],
    now: number,
  ): Promise<Array<Claim<R> | ReplyError>> {
    if (keys.length === 0) return [];
    const trx = shared(tx);
    const inserted = await trx
      .insertInto('sb_idempotency_keys')
      .values(keys.map((key) => ({ tenant, scope, key, result: null, created_at: now })))
      .onConflict((oc) => oc.columns(['tenant', 'scope', 'key']).doNothing())
      .returning('key')
      .execute();
    const first = new Set(inserted.map((r) => r.key));
    const seen = keys.filter((k) => !first.has(k));
    const results = new Map<string, string | null>();
    if (seen.length > 0) {
      const rows = await trx
        .selectFrom('sb_idempotency_keys')
        .select(['key', 'result'])
        .where('tenant', '=', tenant)
        .where('scope', '=', scope)
        .where('key', 'in', seen)
        .execute();
      for (const r of rows) results.set(r.key, r.result);
    }
    return keys.map((key) => {
      if (first.has(key)) return { first: true };
      const result = results.get(key);
      if (result === undefined || result === null) return new ReplyError(ErrorCode.Unavailable, 'a request with this idempotency key is in progress');
      return { first: false, result: JSON.parse(result) as R };
    });
  },

  /** Give back a key claimed in `trx` by a request that then failed (as a rollback of its own would). */
  async release<DB extends SharedTables>(trx: Transaction<DB>, tenant: string, scope: string, key: string): Promise<void> {
    await shared(trx).deleteFrom('sb_idempotency_keys').where('tenant', '=', tenant).where('scope', '=', scope).where('key', '=', key).execute();
  },

  /** Store the result of the request that claimed `key` (same transaction). */
  async complete<DB extends SharedTables>(trx: Transaction<DB>, tenant: string, scope: string, key: string, result: unknown): Promise<void> {
    await shared(trx)
      .updateTable('sb_idempotency_keys')
      .set({ result: JSON.stringify(result) })
      .where('tenant', '=', tenant)
      .where('scope', '=', scope)
      .where('key', '=', key)
      .execute();
  },

  /** Forget keys older than `before` (Unix ms); returns how many. */
  async sweep<DB extends SharedTables>(db: Kysely<DB>, scope: string, before: number): Promise<number> {
    const res = await shared(db).deleteFrom('sb_idempotency_keys').where('scope', '=', scope).where('created_at', '<', before).executeTakeFirst();
    return Number(res.numDeletedRows);
  },
};
