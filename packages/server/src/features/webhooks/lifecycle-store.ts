import type { Kysely } from 'kysely';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import type { WebhookConnectionTable, WebhookMemberTable, WebhookOccupancyTable, WebhookTables } from './tables.js';

export type LifecycleDb = Kysely<SharedTables & WebhookTables>;

/** A channel's occupancy (`user` '') or a user's presence in it. */
export interface OccupancyKey {
  tenant: string;
  channel: string;
  user: string;
}

export type MemberKind = WebhookMemberTable['kind'];

const TRIES = 5;

/**
 * The lifecycle tables: who is a member of what (per connection), the decided `on` states, and
 * open connections. Every transition runs in one transaction that first locks the key's
 * occupancy row (`FOR UPDATE` on PostgreSQL; SQLite has one writer at a time), so the
 * membership changes of one channel (or one user in it) are serialised across nodes and each
 * transition is decided by exactly one of them.
 */
export class LifecycleStore {
  readonly db: LifecycleDb;

  constructor(private readonly storage: Storage) {
    this.db = storage.tables<WebhookTables>();
  }

  transaction<T>(fn: (trx: LifecycleDb) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  /** Lock the key's row: the row when it is `on`, undefined when it is `off`. */
  async lock(trx: LifecycleDb, k: OccupancyKey): Promise<WebhookOccupancyTable | undefined> {
    let q = trx.selectFrom('sb_webhook_occupancy').selectAll().where('tenant', '=', k.tenant).where('channel', '=', k.channel).where('user_id', '=', k.user);
    if (this.storage.kind === 'postgres') q = q.forUpdate();
    return q.executeTakeFirst();
  }

  /**
   * Turn the key `on` and hold its lock: `new` when this call made the transition (the caller
   * emits it), else the row as it was. A concurrent `off` (the row deleted while we waited for
   * it) is retried.
   */
  async occupy(trx: LifecycleDb, k: OccupancyKey, now: number): Promise<'new' | WebhookOccupancyTable> {
    for (let i = 0; i < TRIES; i++) {
      const inserted = await trx
        .insertInto('sb_webhook_occupancy')
        .values({ tenant: k.tenant, channel: k.channel, user_id: k.user, signature: null, since: now, empty_since: null })
        .onConflict((oc) => oc.columns(['tenant', 'channel', 'user_id']).doNothing())
        .returning('tenant')
        .executeTakeFirst();
      if (inserted) return 'new';
      const row = await this.lock(trx, k);
      if (row) return row;
    }
    throw new Error(`the occupancy of ${k.channel} kept changing`);
  }

  async update(trx: LifecycleDb, k: OccupancyKey, set: Partial<Pick<WebhookOccupancyTable, 'signature' | 'empty_since'>>): Promise<void> {
    await trx
      .updateTable('sb_webhook_occupancy')
      .set(set)
      .where('tenant', '=', k.tenant)
      .where('channel', '=', k.channel)
      .where('user_id', '=', k.user)
      .execute();
  }

  async vacate(trx: LifecycleDb, k: OccupancyKey): Promise<void> {
    await trx.deleteFrom('sb_webhook_occupancy').where('tenant', '=', k.tenant).where('channel', '=', k.channel).where('user_id', '=', k.user).execute();
  }

  async addMember(trx: LifecycleDb, row: WebhookMemberTable): Promise<void> {
    await trx
      .insertInto('sb_webhook_members')
      .values(row)
      .onConflict((oc) => oc.columns(['tenant', 'channel', 'kind', 'connection_id']).doUpdateSet({ state: row.state, node: row.node, user_id: row.user_id }))
      .execute();
  }

  async removeMember(trx: LifecycleDb, tenant: string, channel: string, kind: MemberKind, connection: string): Promise<boolean> {
    const r = await trx
      .deleteFrom('sb_webhook_members')
      .where('tenant', '=', tenant)
      .where('channel', '=', channel)
      .where('kind', '=', kind)
      .where('connection_id', '=', connection)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** The members of a channel of a kind (a user's only, for presence), oldest first. */
  async members(trx: LifecycleDb, k: OccupancyKey, kind: MemberKind, limit = 1000): Promise<WebhookMemberTable[]> {
    let q = trx.selectFrom('sb_webhook_members').selectAll().where('tenant', '=', k.tenant).where('channel', '=', k.channel).where('kind', '=', kind);
    if (k.user !== '') q = q.where('user_id', '=', k.user);
    return q.orderBy('joined_at').orderBy('connection_id').limit(limit).execute();
  }

  async addConnection(row: WebhookConnectionTable): Promise<void> {
    await this.db
      .insertInto('sb_webhook_connections')
      .values(row)
      .onConflict((oc) => oc.column('connection_id').doNothing())
      .execute();
  }

  /** Delete an open connection's row: the row for the one caller that deleted it. */
  async removeConnection(trx: LifecycleDb, connection: string): Promise<WebhookConnectionTable | undefined> {
    return trx.deleteFrom('sb_webhook_connections').where('connection_id', '=', connection).returningAll().executeTakeFirst();
  }

  async connectionsOfNode(node: string, limit: number): Promise<WebhookConnectionTable[]> {
    return this.db.selectFrom('sb_webhook_connections').selectAll().where('node', '=', node).limit(limit).execute();
  }

  async membersOfNode(node: string, limit: number): Promise<WebhookMemberTable[]> {
    return this.db.selectFrom('sb_webhook_members').selectAll().where('node', '=', node).limit(limit).execute();
  }

  /** Nodes with member or connection rows. */
  async nodes(): Promise<string[]> {
    const a = await this.db.selectFrom('sb_webhook_members').select('node').distinct().execute();
    const b = await this.db.selectFrom('sb_webhook_connections').select('node').distinct().execute();
    return [...new Set([...a, ...b].map((r) => r.node))];
  }
}
