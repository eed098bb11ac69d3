import type { LockInfo } from '@switchboard/protocol';
import type { Kysely } from 'kysely';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import type { LockTable, LockTables } from './tables.js';

type Db = Kysely<SharedTables & LockTables>;

/** Where a lock lives: a key of a channel of a tenant. */
export interface LockPlace {
  tenant: string;
  channel: string;
  key: string;
}

/** A lock as the table holds it: where, who, and with which token. */
export type LockRow = LockTable;

/** The row as the wire shows it. */
export function lockInfo(row: LockRow): LockInfo {
  const holder: LockInfo['holder'] = { user: row.user_id };
  if (row.client_id !== null) holder.client = row.client_id;
  if (row.attributes !== null) holder.attributes = JSON.parse(row.attributes) as unknown;
  return { key: row.lock_key, holder, fencingToken: Number(row.token), expiresAt: row.expires_at === null ? null : Number(row.expires_at) };
}

/**
 * The index of held locks: who holds which key of a channel, for listing, for the node
 * that finds a dead node's locks, and for the sweep that finds lapsed backend leases. The
 * engine's lease decides who holds a key; a row is written after its grant (only a newer
 * token overwrites one) and deleted once per release, which is what makes every release
 * announced exactly once.
 */
export class LockStore {
  readonly #db: Db;

  constructor(storage: Storage) {
    this.#db = storage.tables<LockTables>();
  }

  /** Record a grant; a row of a newer grant is never overwritten by an older one. */
  async put(row: LockRow): Promise<void> {
    const { tenant, channel, lock_key, ...rest } = row;
    await this.#db
      .insertInto('sb_locks')
      .values(row)
      .onConflict((oc) => oc.columns(['tenant', 'channel', 'lock_key']).doUpdateSet(rest).where('sb_locks.token', '<=', row.token))
      .execute();
  }

  /** Delete the row of the grant `token`: true for the one caller that deleted it. */
  async remove(place: LockPlace, token: number): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('sb_locks')
      .where('tenant', '=', place.tenant)
      .where('channel', '=', place.channel)
      .where('lock_key', '=', place.key)
      .where('token', '=', token)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async get(place: LockPlace): Promise<LockRow | undefined> {
    return this.#db
      .selectFrom('sb_locks')
      .selectAll()
      .where('tenant', '=', place.tenant)
      .where('channel', '=', place.channel)
      .where('lock_key', '=', place.key)
      .executeTakeFirst();
  }

  async list(tenant: string, channel: string, limit: number): Promise<LockRow[]> {
    return this.#db.selectFrom('sb_locks').selectAll().where('tenant', '=', tenant).where('channel', '=', channel).orderBy('lock_key').limit(limit).execute();
  }

  async countUser(tenant: string, user: string): Promise<number> {
    const row = await this.#db
      .selectFrom('sb_locks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant', '=', tenant)
      .where('user_id', '=', user)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async countChannel(tenant: string, channel: string): Promise<number> {
    const row = await this.#db
      .selectFrom('sb_locks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Locks held by connections of a node. */
  async ofNode(node: string, limit: number): Promise<LockRow[]> {
    return this.#db.selectFrom('sb_locks').selectAll().where('node', '=', node).limit(limit).execute();
  }

  /** Connection locks recorded through other nodes, a page at a time (a sweep checks each against its lease). */
  async heldElsewhere(node: string, offset: number, limit: number): Promise<LockRow[]> {
    return this.#db
      .selectFrom('sb_locks')
      .selectAll()
      .where('node', '!=', node)
      .where('expires_at', 'is', null)
      .orderBy('tenant')
      .orderBy('channel')
      .orderBy('lock_key')
      .offset(offset)
      .limit(limit)
      .execute();
  }

  /** Backend leases whose time ran out. */
  async lapsed(now: number, limit: number): Promise<LockRow[]> {
    return this.#db.selectFrom('sb_locks').selectAll().where('expires_at', 'is not', null).where('expires_at', '<=', now).limit(limit).execute();
  }
}
