import type { LockInfo, LockPush, LockReleaseReason } from '@switchboard/protocol';
import { Emitter } from './emitter.js';
import { SwitchboardError } from './errors.js';
import type { FeatureHost } from './feature-module.js';

export type { LockHolder, LockInfo, LockReleaseReason } from '@switchboard/protocol';

/**
 * Locks on keys of a channel (`field:email`, `node:7`): granted by the server, one holder
 * at a time, each grant with a fencing token. Server side and semantics: docs/locks.md.
 */

/** What the locks of a channel need from the client. */
export type LocksHost = Pick<FeatureHost, 'call' | 'subscribe' | 'on'>;

/**
 * The locks of one channel (one instance per client and channel).
 *
 * @example
 * import { locks } from '@switchboard/client/locks';
 * const form = locks(client, 'project:42');
 * const { fencingToken } = await form.acquire('field:email', { attributes: { name: 'Ada' } });
 */
export function locks(client: FeatureHost, channel: string): ChannelLocks {
  return client.use({ key: `locks:${channel}`, create: (host) => new ChannelLocks(host, channel) });
}

export interface AcquireOptions {
  /** Shown to everyone with the lock (`holder.attributes`), e.g. a display name; at most 1 KiB of JSON by default. */
  attributes?: unknown;
  /** Wait this long (ms, at most 30 s by default) in the key's line for the holder to let go, first come first served across every server node; 0 (default) fails at once, also while others wait. */
  waitMs?: number;
  /** Take the lock from its holder first, ahead of everyone waiting (needs the `unlock` capability on the channel). */
  steal?: boolean;
}

/** A change of a key's lock: `lock` null when it was released (`reason` says why). */
export interface LockUpdate {
  key: string;
  lock: LockInfo | null;
  reason?: LockReleaseReason;
}

/** A lock this client held was taken back: forced, its grace ran out, its node died, or it could not be held after a reconnect. */
export interface LockLost {
  key: string;
  lock: LockInfo;
  reason: LockReleaseReason;
}

interface LocksEvents {
  update: LockUpdate;
  lost: LockLost;
}

class LocksEmitter extends Emitter<LocksEvents> {
  fire<K extends keyof LocksEvents>(event: K, payload: LocksEvents[K]): void {
    this.emit(event, payload);
  }
}

function isLockPush(data: unknown): data is LockPush {
  return typeof data === 'object' && data !== null && (data as { kind?: unknown }).kind === 'lock';
}

function newSession(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return c?.randomUUID ? c.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * The locks of one channel: acquire and release keys, and a live view of who holds what
 * (`get`, `getAll`, `update` events) from the channel's lock pushes, read again after every
 * (re)subscribe. Locks this client holds are taken again with the same grant after a
 * reconnect within the server's grace; one that could not be is reported by `lost`.
 *
 * @example
 * const form = locks(client, 'project:42');
 * form.on('update', ({ key, lock }) => showHolder(key, lock?.holder.attributes));
 * form.on('lost', ({ key }) => disableEditing(key));
 */
export class ChannelLocks {
  readonly #host: LocksHost;
  readonly #events = new LocksEmitter();
  readonly #session = newSession();
  readonly #locks = new Map<string, LockInfo>();
  /** Per key, the largest token seen released: a snapshot or push at or below it is old news. */
  readonly #floor = new Map<string, number>();
  /** Keys this client holds, with their grants (re-acquired after a reconnect). */
  readonly #mine = new Map<string, { token: number; attributes: unknown }>();
  #everConnected = false;

  constructor(
    host: LocksHost,
    readonly channel: string,
  ) {
    this.#host = host;
    const sub = host.subscribe(channel, { state: ['locks'] });
    sub.on('publication', (p) => {
      if (isLockPush(p.data)) this.#apply(p.data);
    });
    // The reply's snapshot is applied before the pushes that followed it; a server without one is asked.
    sub.on('subscribed', (e) => {
      const snapshot = e.state?.locks;
      if (Array.isArray(snapshot)) this.#replace(snapshot as LockInfo[]);
      else void this.refresh().catch(() => {});
    });
    // Subscribed before this view existed: its reply had no snapshot for it.
    if (sub.state === 'subscribed') void this.refresh().catch(() => {});
    host.on('connected', () => {
      if (this.#everConnected) void this.#resume();
      this.#everConnected = true;
    });
  }

  /**
   * Take `key`: resolves once the server granted it, with the lock and its `fencingToken`
   * (present it on every write the lock guards). Rejects with a SwitchboardError 130
   * (Locked) whose `data.holder` names the holder, or 106 when a lock cap is reached.
   *
   * @example
   * try {
   *   const { fencingToken } = await form.acquire('field:email', { waitMs: 5000 });
   * } catch (err) {
   *   if (err.code === 130) showBusy(err.data.holder);
   * }
   */
  async acquire(key: string, options: AcquireOptions = {}): Promise<LockInfo> {
    const lock = await this.#host.call<LockInfo>('locks.acquire', { channel: this.channel, key, session: this.#session, ...options });
    this.#mine.set(key, { token: lock.fencingToken, attributes: options.attributes });
    this.#apply({ kind: 'lock', event: 'acquired', lock });
    return lock;
  }

  /**
   * Let `key` go; rejects with 117 when this connection does not hold it.
   *
   * @example
   * await form.release('field:email');
   */
  async release(key: string): Promise<void> {
    this.#mine.delete(key);
    const lock = await this.#host.call<LockInfo>('locks.release', { channel: this.channel, key });
    this.#apply({ kind: 'lock', event: 'released', lock, reason: 'released' });
  }

  /**
   * Take any holder's lock on `key` back (needs the `unlock` capability); its holder gets `lost`.
   *
   * @example
   * await form.forceRelease('field:email');
   */
  async forceRelease(key: string): Promise<void> {
    const lock = await this.#host.call<LockInfo>('locks.release', { channel: this.channel, key, force: true });
    this.#apply({ kind: 'lock', event: 'released', lock, reason: 'forced' });
  }

  /** The lock on `key` as last seen, or undefined when free. */
  get(key: string): LockInfo | undefined {
    return this.#locks.get(key);
  }

  /** Every lock on the channel as last seen. */
  getAll(): LockInfo[] {
    return [...this.#locks.values()];
  }

  /** Whether this client holds `key`. */
  holds(key: string): boolean {
    return this.#mine.has(key);
  }

  /**
   * Follow lock changes: `update` for every grant and release on the channel, `lost` for a
   * lock of this client taken back by the server.
   *
   * @example
   * const off = form.on('update', ({ key, lock }) => render(key, lock));
   */
  on<K extends keyof LocksEvents>(event: K, listener: (payload: LocksEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** Read the channel's locks again (a subscribe reply carries them already; servers without the snapshot are asked). */
  async refresh(): Promise<void> {
    const before = new Map([...this.#locks].map(([k, l]) => [k, l.fencingToken]));
    const { locks } = await this.#host.call<{ locks: LockInfo[] }>('locks.list', { channel: this.channel });
    this.#replace(locks, before);
  }

  /** Take a listing of the channel's locks as the truth, except where a push since was newer. */
  #replace(locks: LockInfo[], before = new Map([...this.#locks].map(([k, l]) => [k, l.fencingToken]))): void {
    const listed = new Set<string>();
    for (const lock of locks) {
      listed.add(lock.key);
      this.#apply({ kind: 'lock', event: 'acquired', lock });
    }
    for (const [key, token] of before) {
      const now = this.#locks.get(key);
      if (listed.has(key) || now?.fencingToken !== token) continue;
      this.#locks.delete(key);
      this.#events.fire('update', { key, lock: null });
    }
  }

  async #resume(): Promise<void> {
    for (const [key, held] of [...this.#mine]) {
      try {
        const lock = await this.#host.call<LockInfo>('locks.acquire', { channel: this.channel, key, session: this.#session, attributes: held.attributes });
        if (lock.fencingToken === held.token) continue;
        // A new grant: the old one lapsed meanwhile, so writes made under its token are refused now.
        this.#lose(key, { key, holder: lock.holder, fencingToken: held.token, expiresAt: null }, 'lost');
        this.#mine.set(key, { token: lock.fencingToken, attributes: held.attributes });
        this.#apply({ kind: 'lock', event: 'acquired', lock });
      } catch (err) {
        if (!(err instanceof SwitchboardError) || err.temporary) continue;
        const lock = this.#locks.get(key);
        this.#mine.delete(key);
        this.#events.fire('lost', { key, lock: lock ?? { key, holder: { user: '' }, fencingToken: held.token, expiresAt: null }, reason: 'connection-lost' });
      }
    }
  }

  #apply(push: LockPush): void {
    const { key, fencingToken } = push.lock;
    if (push.event === 'acquired') {
      if (fencingToken <= (this.#floor.get(key) ?? 0)) return;
      const current = this.#locks.get(key);
      if (current && current.fencingToken > fencingToken) return;
      this.#locks.set(key, push.lock);
      this.#events.fire('update', { key, lock: push.lock });
      return;
    }
    if (fencingToken > (this.#floor.get(key) ?? 0)) this.#floor.set(key, fencingToken);
    const current = this.#locks.get(key);
    if (current && current.fencingToken <= fencingToken) {
      this.#locks.delete(key);
      this.#events.fire('update', { key, lock: null, reason: push.reason });
    }
    if (this.#mine.get(key)?.token === fencingToken) this.#lose(key, push.lock, push.reason);
  }

  #lose(key: string, lock: LockInfo, reason: LockReleaseReason): void {
    this.#mine.delete(key);
    this.#events.fire('lost', { key, lock, reason });
  }
}
