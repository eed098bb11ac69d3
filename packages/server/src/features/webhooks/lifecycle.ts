import type { Logger } from 'pino';
import type { ResolvedChannel } from '../../core/channels.js';
import type { LocalFeaturePresence, LocalSession, PresenceClient, SessionContext } from '../../core/context.js';
import type { Job } from '../../storage/job-store.js';
import type { FeatureEvents } from '../events.js';
import { NodeReaper } from '../node-reaper.js';
import type { FeatureLeases, FeatureMessages } from '../scoped-engine.js';
import type { FeatureJobs } from '../scoped-jobs.js';
import { CHANNEL_TYPES, PRESENCE_TYPES } from './lifecycle-events.js';
import { type LifecycleDb, LifecycleStore, type MemberKind, type OccupancyKey } from './lifecycle-store.js';
import type { WebhookMemberTable } from './tables.js';

/** The job kind of a grace (`webhooks.grace` in sb_jobs): decide `vacated` / `left` if nobody came back. */
export const GRACE = 'grace';

/** Rows a reap reads per page. */
const REAP_BATCH = 500;

interface GracePayload {
  channel: string;
  /** The user for presence; null for the channel's occupancy. */
  user: string | null;
  /** The emptiness this job decides: the occupancy row's `empty_since` when it was scheduled. */
  emptySince: number;
}

/** How a connection ended, as `onDisconnect` tells it. */
export interface Closing {
  code: number;
  lost: boolean;
  durationMs: number;
}

export interface LifecycleOptions {
  storage: import('../../storage/storage.js').Storage;
  events: FeatureEvents;
  jobs: FeatureJobs;
  messages: FeatureMessages;
  leases: FeatureLeases;
  logger: Logger;
  now: () => number;
  grace: () => number;
}

const stateOf = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));
const devicesOf = (rows: readonly WebhookMemberTable[]) => rows.map((r) => ({ connectionId: r.connection_id, state: stateOf(r.state) }));
/** What `presence.updated` compares: the devices' states, not which connections carry them (a refresh changes those). */
const signatureOf = (rows: readonly WebhookMemberTable[]) => JSON.stringify(rows.map((r) => r.state ?? 'null').sort());

/**
 * The lifecycle events: `channel.occupied` / `channel.vacated` per channel, `presence.joined`
 * / `presence.updated` / `presence.left` per user in a channel (devices aggregated), and the
 * rows behind `connection.closed` for connections whose node dies. Nothing is written unless
 * an enabled endpoint of the tenant wants one of these types (the hot path asks the endpoint
 * cache, in memory); then each subscription, presence entry and connection is a row, written
 * in the order the connection's hooks came (one queue per connection). Each transition is
 * decided in the transaction that changes the membership, under the lock of the key's
 * occupancy row, and its event is emitted in that transaction: two nodes never both emit it.
 * `vacated` and `left` wait the grace in a job; a member back meanwhile cancels them. A dead
 * node's rows are reaped by a survivor (or by the node's next run on one node) the same way.
 * When a tenant starts wanting these types, `backfill` records what the node already holds
 * (members older than the endpoints), silently: they were there before.
 */
export class Lifecycle {
  readonly store: LifecycleStore;
  readonly #o: LifecycleOptions;
  readonly #reaper: NodeReaper;
  /** What this node recorded: `<connection>|s|<channel key>`, `<connection>|p|<channel key>`, `<connection>|c`. */
  readonly #recorded = new Set<string>();
  /** The presence state recorded per `<connection>|p|<channel key>`: a status change (idle, away) with the same state writes nothing. */
  readonly #states = new Map<string, string | null>();
  readonly #queues = new Map<string, Promise<void>>();
  /** The writes of the last backfill while they run: every write queued meanwhile waits for them, so it decides with the older members in place. */
  #backfilling: Promise<unknown> | null = null;

  constructor(options: LifecycleOptions) {
    this.#o = options;
    this.store = new LifecycleStore(options.storage);
    this.#reaper = new NodeReaper({
      leases: options.leases,
      messages: options.messages,
      logger: options.logger,
      what: 'lifecycle rows',
      reap: (node) => this.#reapNode(node),
      nodesWithRows: () => this.store.nodes(),
    });
  }

  get #node(): string {
    return this.#o.messages.nodeId;
  }

  async start(): Promise<void> {
    this.#o.jobs.handle(GRACE, (job) => this.#graceOver(job));
    await this.#reaper.start();
  }

  /** Stop reaping; resolves once the hooks' queued writes are done. */
  async stop(): Promise<void> {
    this.#reaper.stop();
    await Promise.allSettled([...this.#queues.values()]);
  }

  reapNode(node: string): Promise<void> {
    return this.#reaper.reap(node);
  }

  // ---- hooks ----

  connected(client: SessionContext, tenant: string, user: string): void {
    if (!this.#o.events.wanted(tenant, 'connection.closed')) return;
    this.#recorded.add(`${client.id}|c`);
    this.#serial(client.id, () =>
      this.store.addConnection({ connection_id: client.id, tenant, user_id: user, node: this.#node, opened_at: client.connectedAt }),
    );
  }

  /** The connection closed: its `connection.closed`, in the transaction that deletes its row when it has one. */
  disconnected(client: SessionContext, closing: Closing): void {
    const identity = client.identity;
    if (!identity) return;
    const recorded = this.#recorded.delete(`${client.id}|c`);
    const data = { connectionId: client.id, user: identity.user, code: closing.code, reason: closing.lost ? 'lost' : 'closed', durationMs: closing.durationMs };
    if (!recorded) {
      if (!this.#o.events.wanted(identity.tenant, 'connection.closed')) return;
      this.#serial(client.id, () => this.#o.events.emit('connection.closed', identity.tenant, data));
      return;
    }
    this.#serial(client.id, async () => {
      const emitted = await this.store.transaction(async (trx) => {
        if (!(await this.store.removeConnection(trx, client.id))) return false;
        await this.#o.events.emit('connection.closed', identity.tenant, data, { trx });
        return true;
      });
      if (emitted) this.#o.events.committed();
    });
  }

  subscribed(client: SessionContext, ch: ResolvedChannel): void {
    const user = client.identity?.user;
    if (user === undefined || !this.#wantsAny(ch, CHANNEL_TYPES)) return;
    this.#recorded.add(`${client.id}|s|${ch.key}`);
    this.#serial(client.id, () => this.#join('sub', { tenant: ch.tenant, channel: ch.channel, user: '' }, client.id, user, null));
  }

  unsubscribed(client: SessionContext, ch: ResolvedChannel): void {
    if (!this.#recorded.delete(`${client.id}|s|${ch.key}`)) return;
    this.#serial(client.id, () => this.#leave('sub', { tenant: ch.tenant, channel: ch.channel, user: '' }, client.id));
  }

  /**
   * A presence entry was made or set again, a session's or a feature connection's (a document
   * provider's) alike: joined on the user's first device, updated when the devices' states changed.
   */
  presenceSet(client: PresenceClient, ch: ResolvedChannel, state: string | null): void {
    const user = client.identity.user;
    if (!this.#wantsAny(ch, PRESENCE_TYPES)) return;
    const key = `${client.id}|p|${ch.key}`;
    if (this.#recorded.has(key) && this.#states.get(key) === state) return;
    this.#recorded.add(key);
    this.#states.set(key, state);
    this.#serial(client.id, () => this.#join('presence', { tenant: ch.tenant, channel: ch.channel, user }, client.id, user, state));
  }

  presenceLeft(client: PresenceClient, ch: ResolvedChannel): void {
    const user = client.identity.user;
    const key = `${client.id}|p|${ch.key}`;
    this.#states.delete(key);
    if (!this.#recorded.delete(key)) return;
    this.#serial(client.id, () => this.#leave('presence', { tenant: ch.tenant, channel: ch.channel, user }, client.id));
  }

  /**
   * Record the open connections, subscriptions and presence entries of `sessions`, and the
   * presence entries of features' own connections (`featurePresences`: document providers),
   * one tenant's on this node, that are wanted now and were not recorded: members older than
   * the endpoints that want them. Call it in the turn the endpoint list changed, so that a hook
   * either came before (and its member is in the list) or records itself. Emits nothing: a
   * member already there is no transition; but from now on its leaving counts, so no
   * `vacated` / `left` is decided while it stays. Returns how many rows it queued.
   */
  backfill(sessions: readonly LocalSession[], featurePresences: readonly LocalFeaturePresence[] = []): number {
    const writes: Promise<void>[] = [];
    for (const { client, channel: ch, state } of featurePresences) {
      const key = `${client.id}|p|${ch.key}`;
      if (this.#recorded.has(key) || !this.#wantsAny(ch, PRESENCE_TYPES)) continue;
      const { user } = client.identity;
      this.#recorded.add(key);
      this.#states.set(key, state);
      writes.push(this.#serial(client.id, () => this.#settle('presence', { tenant: ch.tenant, channel: ch.channel, user }, client.id, user, state)));
    }
    for (const { client, channels } of sessions) {
      const identity = client.identity;
      if (!identity) continue;
      const { tenant, user } = identity;
      if (!this.#recorded.has(`${client.id}|c`) && this.#o.events.wanted(tenant, 'connection.closed')) {
        this.#recorded.add(`${client.id}|c`);
        writes.push(
          this.#serial(client.id, () =>
            this.store.addConnection({ connection_id: client.id, tenant, user_id: user, node: this.#node, opened_at: client.connectedAt }),
          ),
        );
      }
      for (const { channel: ch, presence } of channels) {
        const sub = `${client.id}|s|${ch.key}`;
        if (!this.#recorded.has(sub) && this.#wantsAny(ch, CHANNEL_TYPES)) {
          this.#recorded.add(sub);
          writes.push(this.#serial(client.id, () => this.#settle('sub', { tenant, channel: ch.channel, user: '' }, client.id, user, null)));
        }
        const key = `${client.id}|p|${ch.key}`;
        if (presence === null || this.#recorded.has(key) || !this.#wantsAny(ch, PRESENCE_TYPES)) continue;
        this.#recorded.add(key);
        this.#states.set(key, presence.state);
        writes.push(this.#serial(client.id, () => this.#settle('presence', { tenant, channel: ch.channel, user }, client.id, user, presence.state)));
      }
    }
    if (writes.length > 0) {
      const done: Promise<unknown> = Promise.all([this.#backfilling, ...writes]);
      this.#backfilling = done;
      void done.then(() => {
        if (this.#backfilling === done) this.#backfilling = null;
      });
    }
    return writes.length;
  }

  // ---- transitions ----

  #wantsAny(ch: ResolvedChannel, types: readonly string[]): boolean {
    return types.some((t) => this.#o.events.wanted(ch.tenant, t, ch.channel));
  }

  /** Run the writes of one connection in the order its hooks came; a failure is logged. */
  #serial(connection: string, fn: () => Promise<unknown>): Promise<void> {
    const queued = this.#queues.get(connection) ?? Promise.resolve();
    const previous = this.#backfilling ? Promise.all([queued, this.#backfilling]) : queued;
    const next = previous.then(fn).then(
      () => {},
      (err: unknown) => this.#o.logger.warn({ err }, 'recording a lifecycle change failed'),
    );
    this.#queues.set(connection, next);
    void next.then(() => {
      if (this.#queues.get(connection) === next) this.#queues.delete(connection);
    });
    return next;
  }

  /** Run `fn` in a transaction; when it emitted, start the deliveries once committed. */
  async #transition(fn: (trx: LifecycleDb) => Promise<boolean>): Promise<void> {
    if (await this.store.transaction(fn)) this.#o.events.committed();
  }

  #join(kind: MemberKind, k: OccupancyKey, connection: string, user: string, state: string | null): Promise<void> {
    return this.#transition(async (trx) => {
      const now = this.#o.now();
      const before = await this.store.occupy(trx, k, now);
      await this.store.addMember(trx, {
        tenant: k.tenant,
        channel: k.channel,
        kind,
        connection_id: connection,
        user_id: user,
        node: this.#node,
        state,
        joined_at: now,
      });
      if (kind === 'sub') {
        if (before !== 'new') {
          if (before.empty_since !== null) await this.store.update(trx, k, { empty_since: null });
          return false;
        }
        await this.#o.events.emit('channel.occupied', k.tenant, { channel: k.channel }, { trx, channel: k.channel });
        return true;
      }
      const rows = await this.store.members(trx, k, 'presence');
      const signature = signatureOf(rows);
      if (before === 'new') {
        await this.store.update(trx, k, { signature });
        await this.#o.events.emit('presence.joined', k.tenant, { channel: k.channel, user, devices: devicesOf(rows) }, { trx, channel: k.channel });
        return true;
      }
      if (before.signature === signature) {
        if (before.empty_since !== null) await this.store.update(trx, k, { empty_since: null });
        return false;
      }
      await this.store.update(trx, k, { signature, empty_since: null });
      await this.#o.events.emit('presence.updated', k.tenant, { channel: k.channel, user, devices: devicesOf(rows) }, { trx, channel: k.channel });
      return true;
    });
  }

  /**
   * A member that was there before it was recorded: its row, the key `on` (its grace, if one
   * runs, no longer decides anything) and the user's devices as they are; no event.
   */
  #settle(kind: MemberKind, k: OccupancyKey, connection: string, user: string, state: string | null): Promise<void> {
    return this.store.transaction(async (trx) => {
      const now = this.#o.now();
      const before = await this.store.occupy(trx, k, now);
      await this.store.addMember(trx, {
        tenant: k.tenant,
        channel: k.channel,
        kind,
        connection_id: connection,
        user_id: user,
        node: this.#node,
        state,
        joined_at: now,
      });
      const signature = kind === 'presence' ? signatureOf(await this.store.members(trx, k, 'presence')) : null;
      if (before === 'new') {
        if (signature !== null) await this.store.update(trx, k, { signature });
        return;
      }
      if (before.empty_since !== null || (signature !== null && before.signature !== signature))
        await this.store.update(trx, k, { empty_since: null, ...(signature === null ? {} : { signature }) });
    });
  }

  /** A member left: the grace starts when it was the last one; a presence change of the user's remaining devices is an update. */
  #leave(kind: MemberKind, k: OccupancyKey, connection: string): Promise<void> {
    return this.#transition(async (trx) => {
      const row = await this.store.lock(trx, k);
      await this.store.removeMember(trx, k.tenant, k.channel, kind, connection);
      if (!row) return false;
      const rows = await this.store.members(trx, k, kind, kind === 'sub' ? 1 : 1000);
      if (rows.length === 0) {
        const now = this.#o.now();
        await this.store.update(trx, k, { empty_since: now });
        const payload: GracePayload = { channel: k.channel, user: kind === 'sub' ? null : k.user, emptySince: now };
        await this.#o.jobs.add({ kind: GRACE, tenant: k.tenant, payload, dueAt: now + this.#o.grace() }, trx);
        return false;
      }
      if (kind === 'sub') return false;
      const signature = signatureOf(rows);
      if (row.signature === signature) return false;
      await this.store.update(trx, k, { signature });
      await this.#o.events.emit('presence.updated', k.tenant, { channel: k.channel, user: k.user, devices: devicesOf(rows) }, { trx, channel: k.channel });
      return true;
    });
  }

  /** The grace of an emptiness passed: `vacated` / `left` when it is still that emptiness (nobody came back). */
  async #graceOver(job: Job): Promise<unknown> {
    const p = job.payload as GracePayload;
    const k: OccupancyKey = { tenant: job.tenant, channel: p.channel, user: p.user ?? '' };
    let outcome = 'still occupied';
    await this.#transition(async (trx) => {
      const row = await this.store.lock(trx, k);
      if (!row || row.empty_since === null || Number(row.empty_since) !== p.emptySince) return false;
      if ((await this.store.members(trx, k, p.user === null ? 'sub' : 'presence', 1)).length > 0) return false;
      await this.store.vacate(trx, k);
      outcome = 'emitted';
      if (p.user === null) await this.#o.events.emit('channel.vacated', k.tenant, { channel: k.channel }, { trx, channel: k.channel });
      else await this.#o.events.emit('presence.left', k.tenant, { channel: k.channel, user: p.user }, { trx, channel: k.channel });
      return true;
    });
    return { outcome };
  }

  /** What a departed node's connections left: each connection closed (`server_lost`), each membership left. */
  async #reapNode(node: string): Promise<void> {
    for (let pass = 0; pass < 10_000; pass++) {
      const rows = await this.store.connectionsOfNode(node, REAP_BATCH);
      for (const c of rows) {
        await this.#transition(async (trx) => {
          if (!(await this.store.removeConnection(trx, c.connection_id))) return false;
          const data = {
            connectionId: c.connection_id,
            user: c.user_id,
            code: 1006,
            reason: 'server_lost',
            durationMs: Math.max(0, this.#o.now() - Number(c.opened_at)),
          };
          await this.#o.events.emit('connection.closed', c.tenant, data, { trx });
          return true;
        });
      }
      if (rows.length < REAP_BATCH) break;
    }
    for (let pass = 0; pass < 10_000; pass++) {
      const rows = await this.store.membersOfNode(node, REAP_BATCH);
      for (const m of rows) await this.#leave(m.kind, { tenant: m.tenant, channel: m.channel, user: m.kind === 'sub' ? '' : m.user_id }, m.connection_id);
      if (rows.length < REAP_BATCH) break;
    }
  }
}
