import { ErrorCode, type LockInfo, type LockPush, type LockReleaseReason } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import { NodeReaper } from '../node-reaper.js';
import type { FeatureLeases, FeatureMessages } from '../scoped-engine.js';
import type { LocksConfig } from './config.js';
import { type Holding, Holdings } from './holdings.js';
import type { LockMetrics } from './metrics.js';
import { type LockPlace, type LockRow, LockStore, lockInfo } from './store.js';
import { PendingAcquire, WaitQueues } from './waiters.js';

/** What the lock service tells its listeners (the webhooks feature's `lock.acquired` / `lock.released`). */
export type LockEvent =
  | { type: 'acquired'; tenant: string; channel: string; lock: LockInfo }
  | { type: 'released'; tenant: string; channel: string; lock: LockInfo; reason: LockReleaseReason };

/** The connection a lock is acquired for. */
export interface LockClient {
  readonly id: string;
  readonly closed: boolean;
  user: string;
  /** Kept across the SDK's reconnects: the same session re-acquiring a key it holds gets the same grant. */
  session: string;
}

export interface AcquireOptions {
  attributes?: unknown;
  /** Wait up to this long in the key's line for the holder to release (0: fail at once with 130 Locked). */
  waitMs?: number;
  /** Take the lock from its holder (released with reason `forced`), ahead of everyone waiting. */
  steal?: boolean;
}

/** A backend lease request (PUT /channels/{channel}/locks/{key}). */
export interface LeaseRequest {
  user: string;
  ttlMs: number;
  attributes?: unknown;
  /** Renew the lease this token names instead of acquiring. */
  fencingToken?: number;
}

/**
 * The service other features get from `ctx.feature<LocksApi>('locks')`: who holds what,
 * fencing checks for the writes a feature guards with locks, force release, and events.
 *
 * @example
 * const locks = ctx.feature<LocksApi>('locks');
 * await locks.check(tenant, 'form:42', 'field:email', fencingToken); // 131 when stale
 * locks.on((e) => { if (e.type === 'released') audit(e.reason); });
 */
export interface LocksApi {
  get(tenant: string, channel: string, key: string): Promise<LockInfo | null>;
  list(tenant: string, channel: string): Promise<LockInfo[]>;
  /** The lock when `fencingToken` is its current grant; 131 StaleFencingToken otherwise. */
  check(tenant: string, channel: string, key: string, fencingToken: number): Promise<LockInfo>;
  /** Take any holder's lock back (reason `forced`); null when the key was free. */
  forceRelease(tenant: string, channel: string, key: string): Promise<LockInfo | null>;
  /** Every grant and release this node made, once each; returns the unsubscribe. */
  on(listener: (event: LockEvent) => void): () => void;
}

/** Rows read per pass of the node-down and expiry sweeps. */
const SWEEP_BATCH = 500;
/** Rounds after which a lease-less row the orphan sweep saw once, and not again, is forgotten. */
const ORPHAN_SUSPECT_ROUNDS = 1000;

const leaseKeyOf = (p: LockPlace) => `${p.tenant}|${p.channel}|${p.key}`;
const connectionOwner = (user: string, session: string) => JSON.stringify(['c', user, session]);
const backendOwner = (user: string) => JSON.stringify(['b', user]);
/** The user of a lease owner (`connectionOwner` / `backendOwner`), or null for another owner. */
function ownerUser(owner: string): string | null {
  try {
    const parsed = JSON.parse(owner) as unknown;
    return Array.isArray(parsed) && typeof parsed[1] === 'string' ? parsed[1] : null;
  } catch {
    return null;
  }
}

/**
 * The lock service. The engine's lease store decides who holds a key and issues the fencing
 * tokens; the table indexes the grants for listing and cleanup; each change is written
 * before it is published on the resource's channel (`{kind: 'lock', …}`) or answered.
 */
export class Locks implements LocksApi {
  readonly store: LockStore;
  readonly #holdings = new Holdings();
  readonly #waiters = new WaitQueues();
  readonly #listeners = new Set<(event: LockEvent) => void>();
  readonly #lost = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #reaper: NodeReaper;
  #stopped = false;
  /** Where the orphan sweep goes on from. */
  #orphanOffset = 0;
  /** Rounds of the orphan sweep, and the lease-less rows it saw, with the round it first saw each. */
  #orphanRound = 0;
  readonly #orphanSuspects = new Map<string, number>();

  constructor(
    private readonly node: NodeContext,
    private readonly leases: FeatureLeases,
    private readonly messages: FeatureMessages,
    private readonly config: () => LocksConfig,
    private readonly metrics: LockMetrics,
    private readonly logger: Logger,
  ) {
    this.store = new LockStore(node.storage);
    this.#reaper = new NodeReaper({ leases, messages, logger, what: 'locks', reap: (n) => this.#releaseNode(n) });
  }

  start(): void {
    this.messages.onNotification('freed', (data) => {
      if (typeof data === 'string') void this.#waiters.freed(data);
    });
    const cfg = this.config();
    this.#every(Math.max(50, Math.floor(cfg.connectionLease / 3)), () => this.#renewHeld());
    // Every waiter asks again: its place in line is kept, and a key whose first waiter left
    // without a release (its node died) goes to the next one within locks.waitLease.
    this.#every(Math.max(50, Math.floor(cfg.waitLease / 3)), () => this.#waiters.retryAll());
    this.#every(cfg.sweepInterval, () => this.sweepLapsed());
    this.#every(cfg.connectionLease, () => this.sweepOrphans());
    // Locks of a departed node, and those a previous life of this node id held, are nobody's now.
    this.#reaper.start().catch((err) => this.logger.warn({ err }, 'starting the lock reaper failed'));
  }

  stop(): void {
    this.#stopped = true;
    this.#reaper.stop();
    for (const t of this.#timers) clearInterval(t);
    this.#timers.clear();
    this.#waiters.clear();
  }

  on(listener: (event: LockEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async get(tenant: string, channel: string, key: string): Promise<LockInfo | null> {
    const row = await this.store.get({ tenant, channel, key });
    return row && this.#live(row) ? lockInfo(row) : null;
  }

  async list(tenant: string, channel: string): Promise<LockInfo[]> {
    const rows = await this.store.list(tenant, channel, this.config().perChannel);
    return rows.filter((r) => this.#live(r)).map(lockInfo);
  }

  async check(tenant: string, channel: string, key: string, fencingToken: number): Promise<LockInfo> {
    const place = { tenant, channel, key };
    const lease = await this.leases.get(leaseKeyOf(place));
    const row = await this.store.get(place);
    if (!lease || lease.token !== fencingToken || !row || Number(row.token) !== fencingToken)
      throw new ReplyError(ErrorCode.StaleFencingToken, `${fencingToken} is not the current grant of ${key}`);
    return lockInfo(row);
  }

  /**
   * Acquire for a connection, waiting up to `waitMs` in the key's line (the lease store's:
   * first come, first served across the cluster); 130 Locked (with the holder) when it stays held.
   */
  async acquire(ch: ResolvedChannel, key: string, client: LockClient, options: AcquireOptions): Promise<LockInfo> {
    const place = { tenant: ch.tenant, channel: ch.channel, key };
    const leaseKey = leaseKeyOf(place);
    await this.#checkCaps(place, client);
    const attributes = options.attributes === undefined ? null : JSON.stringify(options.attributes);
    const waitMs = options.waitMs ?? 0;
    const inLine = (waitMs > 0 || options.steal === true) && !client.closed;
    const attempt = (front = false) => this.#grant(ch, place, client, attributes, inLine ? { front } : undefined);
    const leave = () => this.#leaveLine(leaseKey, client);
    try {
      if (options.steal) {
        // First in line, then the holder's lock taken back: the next grant is this one's.
        const granted = await attempt(true);
        if (granted) return granted;
        await this.forceRelease(place.tenant, place.channel, key);
      }
      const granted = await attempt();
      if (granted) return granted;
    } catch (err) {
      if (inLine) await leave();
      throw err;
    }
    this.metrics.contended();
    if (waitMs <= 0 || client.closed) {
      if (inLine) await leave();
      throw await this.#locked(place);
    }
    return new Promise<LockInfo>((resolve, reject) => {
      const waiter: PendingAcquire<LockInfo> = new PendingAcquire(client.id, attempt, (outcome) => {
        this.#waiters.remove(leaseKey, waiter);
        if ('value' in outcome) return resolve(outcome.value);
        // The place in line goes before the refusal is answered: a retry queues anew.
        void leave().then(() => reject(outcome.error ?? new ReplyError(ErrorCode.Unavailable, 'the wait ended')));
      });
      waiter.timer = setTimeout(() => {
        this.#waiters.remove(leaseKey, waiter);
        void waiter.expire(() => this.#locked(place));
      }, waitMs);
      this.#waiters.add(leaseKey, waiter);
    });
  }

  /** Give up a connection's place in a key's line (its wait ended without the lock). */
  async #leaveLine(leaseKey: string, client: LockClient): Promise<void> {
    try {
      await this.leases.leave(leaseKey, connectionOwner(client.user, client.session));
    } catch (err) {
      // The place lapses after locks.waitLease anyway.
      this.logger.warn({ err, leaseKey }, 'leaving the line of a lock failed');
    }
  }

  /** Release a lock a connection holds (or a resumed session of it). */
  async release(ch: ResolvedChannel, key: string, client: LockClient): Promise<LockInfo> {
    const place = { tenant: ch.tenant, channel: ch.channel, key };
    const holding = this.#holdings.get(client.id, leaseKeyOf(place));
    if (!holding) throw new ReplyError(ErrorCode.NotFound, `this connection holds no lock on ${key}`);
    const info = await this.#releaseHolding(holding, 'released');
    if (!info) throw new ReplyError(ErrorCode.NotFound, `the lock on ${key} was already released`);
    return info;
  }

  async forceRelease(tenant: string, channel: string, key: string): Promise<LockInfo | null> {
    const place = { tenant, channel, key };
    const leaseKey = leaseKeyOf(place);
    const lease = await this.leases.get(leaseKey);
    const row = await this.store.get(place);
    const owned = lease !== null && (await this.leases.release(leaseKey, lease.token));
    if (!row) return null;
    return this.#announceRelease(place, Number(row.token), 'forced', row, owned);
  }

  /** Acquire or renew a backend lease; 130 Locked with the holder, 131 for a stale token. */
  async lease(ch: ResolvedChannel, key: string, req: LeaseRequest): Promise<LockInfo> {
    const cfg = this.config();
    if (req.ttlMs < cfg.minLease || req.ttlMs > cfg.maxLease)
      throw new ReplyError(ErrorCode.BadRequest, `ttlMs must be from ${cfg.minLease} to ${cfg.maxLease}`);
    const place = { tenant: ch.tenant, channel: ch.channel, key };
    const leaseKey = leaseKeyOf(place);
    const attributes = req.attributes === undefined ? null : JSON.stringify(req.attributes);
    const expiresAt = this.node.now() + req.ttlMs;
    if (req.fencingToken !== undefined) {
      const row = await this.store.get(place);
      const renewed = row !== undefined && Number(row.token) === req.fencingToken && (await this.leases.renew(leaseKey, req.fencingToken, req.ttlMs));
      if (!renewed || !row) throw new ReplyError(ErrorCode.StaleFencingToken, `${req.fencingToken} is not the current grant of ${key}`);
      const next: LockRow = { ...row, expires_at: expiresAt, attributes: attributes ?? row.attributes };
      await this.store.put(next);
      return this.#announceGrant(ch, next);
    }
    await this.#checkCaps(place, null, req.user);
    const token = await this.leases.acquire(leaseKey, req.ttlMs, backendOwner(req.user));
    if (token === null) {
      this.metrics.contended();
      throw await this.#locked(place);
    }
    const row: LockRow = {
      tenant: place.tenant,
      channel: place.channel,
      lock_key: key,
      token,
      user_id: req.user,
      client_id: null,
      session: null,
      node: null,
      attributes,
      acquired_at: this.node.now(),
      expires_at: expiresAt,
    };
    await this.#putOrGiveBack(leaseKey, row);
    this.metrics.granted();
    return this.#announceGrant(ch, row);
  }

  /** Release a backend lease by its token (131 when it is not the current grant). */
  async unlease(tenant: string, channel: string, key: string, fencingToken: number): Promise<LockInfo> {
    const place = { tenant, channel, key };
    const row = await this.store.get(place);
    if (!row) throw new ReplyError(ErrorCode.NotFound, `no lock on ${key}`);
    if (Number(row.token) !== fencingToken) throw new ReplyError(ErrorCode.StaleFencingToken, `${fencingToken} is not the current grant of ${key}`);
    const owned = await this.leases.release(leaseKeyOf(place), fencingToken);
    const info = await this.#announceRelease(place, fencingToken, 'released', row, owned);
    if (!info) throw new ReplyError(ErrorCode.StaleFencingToken, `${fencingToken} was released meanwhile`);
    return info;
  }

  /** The connection entered its close after a drop without a close handshake: its locks get the grace. */
  connectionLost(client: string): void {
    this.#lost.add(client);
  }

  /** A connection closed: its waits end, its locks go now (clean close) or after the grace (drop). */
  async disconnected(client: string): Promise<void> {
    this.#waiters.dropClient(client);
    const dropped = this.#lost.delete(client);
    const held = this.#holdings.of(client);
    if (held.length === 0) return;
    if (!dropped) {
      await Promise.all(held.map((h) => this.#releaseHolding(h, 'disconnect', client)));
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void Promise.all(held.map((h) => (this.#holdings.holds(client, h) ? this.#releaseHolding(h, 'connection-lost', client) : null))).catch((err) =>
        this.logger.warn({ err }, 'releasing locks after the grace failed'),
      );
    }, this.config().grace);
    this.#timers.add(timer);
  }

  /** Release what a departed node's connections held, once in the cluster (a lease named after the node). */
  reapNode(node: string): Promise<void> {
    return this.#reaper.reap(node);
  }

  async #releaseNode(node: string): Promise<void> {
    for (let pass = 0; pass < 1000; pass++) {
      const rows = await this.store.ofNode(node, SWEEP_BATCH);
      let released = 0;
      for (const row of rows) {
        const place = { tenant: row.tenant, channel: row.channel, key: row.lock_key };
        const lease = await this.leases.get(leaseKeyOf(place));
        if (lease && lease.token !== Number(row.token)) continue;
        const owned = lease !== null && (await this.leases.release(leaseKeyOf(place), lease.token));
        if (await this.#announceRelease(place, Number(row.token), 'node-down', row, owned)) released++;
      }
      if (rows.length < SWEEP_BATCH || released === 0) break;
    }
  }

  /**
   * Connection locks whose holder's node went without a node-down notice — restarted under a
   * new node id (the memory engine's is new each run), or a whole cluster restarted — have no
   * lease any more: announce them released and drop their rows. One page per round, the next
   * round going on from there; a lock whose key has a newer grant is left to that grant's row.
   * A row is released the second time a round finds it without a lease, so a live node's
   * release, caught between its lease and its row, is never announced twice (and never turns
   * the holder's own release into "already released").
   */
  async sweepOrphans(): Promise<void> {
    const rows = await this.store.heldElsewhere(this.messages.nodeId, this.#orphanOffset, SWEEP_BATCH);
    this.#orphanOffset = rows.length < SWEEP_BATCH ? 0 : this.#orphanOffset + rows.length;
    const round = ++this.#orphanRound;
    for (const row of rows) {
      if (this.#stopped) return;
      const place = { tenant: row.tenant, channel: row.channel, key: row.lock_key };
      const suspect = `${leaseKeyOf(place)}#${row.token}`;
      if (await this.leases.get(leaseKeyOf(place))) {
        this.#orphanSuspects.delete(suspect);
        continue;
      }
      // A row without a lease is also what a live node's release looks like between letting the
      // lease go and removing the row: only a row still there a round later is an orphan.
      const seen = this.#orphanSuspects.get(suspect);
      if (seen === undefined) {
        this.#orphanSuspects.set(suspect, round);
        continue;
      }
      if (seen === round) continue;
      this.#orphanSuspects.delete(suspect);
      await this.#announceRelease(place, Number(row.token), 'node-down', row);
    }
    for (const [suspect, seen] of this.#orphanSuspects) if (round - seen > ORPHAN_SUSPECT_ROUNDS) this.#orphanSuspects.delete(suspect);
  }

  /** Announce the backend leases whose time ran out (the lease store already let them go). */
  async sweepLapsed(): Promise<void> {
    const rows = await this.store.lapsed(this.node.now(), SWEEP_BATCH);
    for (const row of rows) {
      const place = { tenant: row.tenant, channel: row.channel, key: row.lock_key };
      const lease = await this.leases.get(leaseKeyOf(place));
      if (lease?.token === Number(row.token)) continue;
      await this.#announceRelease(place, Number(row.token), 'expired', row);
    }
  }

  /** Take the key for a connection (`line`: keeping its place in the key's line while refused); null while held or others come first. */
  async #grant(ch: ResolvedChannel, place: LockPlace, client: LockClient, attributes: string | null, line?: { front: boolean }): Promise<LockInfo | null> {
    const leaseKey = leaseKeyOf(place);
    const cfg = this.config();
    const owner = connectionOwner(client.user, client.session);
    const token = line
      ? await this.leases.queue(leaseKey, cfg.connectionLease, owner, cfg.waitLease, line.front)
      : await this.leases.acquire(leaseKey, cfg.connectionLease, owner);
    if (token === null) return null;
    const previous = await this.store.get(place);
    const row: LockRow = {
      tenant: place.tenant,
      channel: place.channel,
      lock_key: place.key,
      token,
      user_id: client.user,
      client_id: client.id,
      session: client.session,
      node: this.messages.nodeId,
      attributes,
      acquired_at: previous && Number(previous.token) === token ? Number(previous.acquired_at) : this.node.now(),
      expires_at: null,
    };
    await this.#putOrGiveBack(leaseKey, row, previous === undefined || Number(previous.token) !== token);
    const holding: Holding = { place, leaseKey, token, user: client.user, session: client.session };
    // A newer grant of the key is already recorded here: this one is stale, the lease long gone.
    if (!this.#holdings.add(client.id, holding)) return null;
    if (!previous || Number(previous.token) !== token) this.metrics.granted();
    const info = await this.#announceGrant(ch, row);
    // The connection closed while this was granted: its close already ran, so release here.
    if (client.closed) await this.#releaseHolding(holding, 'disconnect', client.id);
    return info;
  }

  /** Write a grant's row; when that fails, the lease is given back so the key is not held by nobody's row. */
  async #putOrGiveBack(leaseKey: string, row: LockRow, newGrant = true): Promise<void> {
    try {
      await this.store.put(row);
    } catch (err) {
      if (newGrant) await this.leases.release(leaseKey, Number(row.token)).catch(() => false);
      throw err;
    }
  }

  async #releaseHolding(holding: Holding, reason: LockReleaseReason, client?: string): Promise<LockInfo | null> {
    // Read while the lease is still ours: nobody can overwrite the row before it is let go.
    const row = await this.store.get(holding.place);
    // After a resume elsewhere the row names another connection: that one holds it now.
    if (client !== undefined && reason !== 'released' && row && Number(row.token) === holding.token && row.client_id !== client) {
      this.#holdings.remove(holding.leaseKey, holding.token);
      return null;
    }
    holding.releasing = true;
    let owned: boolean;
    try {
      owned = await this.leases.release(holding.leaseKey, holding.token);
    } catch (err) {
      holding.releasing = false;
      throw err;
    }
    return this.#announceRelease(holding.place, holding.token, reason, row, owned);
  }

  /**
   * Delete the grant's row and announce its release, once in the cluster: by whoever deletes
   * the row, or, when a newer grant already overwrote it, by whoever let the lease go (`owned`).
   */
  async #announceRelease(place: LockPlace, token: number, reason: LockReleaseReason, known?: LockRow, owned = false): Promise<LockInfo | null> {
    const leaseKey = leaseKeyOf(place);
    this.#holdings.remove(leaseKey, token);
    const row = known ?? (await this.store.get(place));
    if (!row || Number(row.token) !== token) return null;
    if (!(await this.store.remove(place, token))) {
      // Someone else removed it: they announce, unless this caller let the lease go. Then the
      // row was overwritten by the next grant (and may be gone again with that grant's own
      // release, when this removal ran late): nobody else announces this token.
      if (!owned) return null;
      const now = await this.store.get(place);
      if (now && Number(now.token) <= token) return null;
    }
    const lock = lockInfo(row);
    this.metrics.released(reason);
    await this.#publish(place.tenant, place.channel, { kind: 'lock', event: 'released', lock, reason });
    this.#emit({ type: 'released', tenant: place.tenant, channel: place.channel, lock, reason });
    await this.messages.notify('freed', leaseKey).catch((err: unknown) => this.logger.warn({ err }, 'telling waiters failed'));
    return lock;
  }

  async #announceGrant(ch: ResolvedChannel, row: LockRow): Promise<LockInfo> {
    const lock = lockInfo(row);
    await this.#publish(ch.tenant, ch.channel, { kind: 'lock', event: 'acquired', lock });
    this.#emit({ type: 'acquired', tenant: ch.tenant, channel: ch.channel, lock });
    return lock;
  }

  async #publish(tenant: string, channel: string, push: LockPush): Promise<void> {
    try {
      await this.node.publish(this.node.resolve(tenant, channel), JSON.stringify(push));
    } catch (err) {
      // The change is stored; subscribers that missed the push read the list again.
      this.logger.warn({ err, channel }, 'publishing a lock change failed');
    }
  }

  #emit(event: LockEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ err }, 'a lock listener failed');
      }
    }
  }

  async #locked(place: LockPlace): Promise<ReplyError> {
    const [row, lease] = await Promise.all([this.store.get(place), this.leases.get(leaseKeyOf(place)).catch(() => null)]);
    // The lease decides; its grant's row may not be written yet (a contender asking just after the winner).
    if (row && (lease === null || Number(row.token) === lease.token)) {
      const err = new ReplyError(ErrorCode.Locked, `${place.key} is held by ${row.user_id}`);
      err.data = { holder: lockInfo(row).holder, expiresAt: row.expires_at === null ? null : Number(row.expires_at) };
      return err;
    }
    const user = lease ? ownerUser(lease.owner) : null;
    const err = new ReplyError(ErrorCode.Locked, user === null ? `${place.key} is held` : `${place.key} is held by ${user}`);
    if (user !== null && lease) err.data = { holder: { user }, expiresAt: lease.owner.startsWith('["b"') ? this.node.now() + lease.ttlMs : null };
    return err;
  }

  async #checkCaps(place: LockPlace, client: LockClient | null, backendUser?: string): Promise<void> {
    const cfg = this.config();
    const row = await this.store.get(place);
    const user = client?.user ?? backendUser ?? '';
    // Re-acquiring what one already holds (a retry, a resume) needs no new room.
    if (row && row.user_id === user && (client ? row.session === client.session : row.client_id === null)) return;
    if (client && this.#holdings.count(client.id) >= cfg.perConnection)
      throw new ReplyError(ErrorCode.LimitExceeded, `at most ${cfg.perConnection} locks per connection`);
    if ((await this.store.countUser(place.tenant, user)) >= cfg.perUser) throw new ReplyError(ErrorCode.LimitExceeded, `at most ${cfg.perUser} locks per user`);
    if (!row && (await this.store.countChannel(place.tenant, place.channel)) >= cfg.perChannel)
      throw new ReplyError(ErrorCode.LimitExceeded, `at most ${cfg.perChannel} locks per channel`);
  }

  #live(row: LockRow): boolean {
    return row.expires_at === null || Number(row.expires_at) > this.node.now();
  }

  async #renewHeld(): Promise<void> {
    const ttl = this.config().connectionLease;
    for (const holding of this.#holdings.all()) {
      if (holding.releasing || !this.#holdings.current(holding)) continue;
      if (await this.leases.renew(holding.leaseKey, holding.token, ttl)) continue;
      // Released (or given up) while the renewal was on its way: that release announces it.
      if (holding.releasing || !this.#holdings.current(holding)) continue;
      await this.#announceRelease(holding.place, holding.token, 'lost');
    }
  }

  #every(ms: number, fn: () => Promise<void>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running || this.#stopped) return;
      running = true;
      fn()
        .catch((err: unknown) => this.logger.warn({ err }, 'lock maintenance failed'))
        .finally(() => {
          running = false;
        });
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }
}
