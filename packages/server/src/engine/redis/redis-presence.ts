import type { PresenceStatus } from '@switchboard/protocol';
import type { ChannelEvent } from '../broker.js';
import type { PresenceCounts, PresenceEntry, PresenceSetResult, PresenceStore } from '../presence-store.js';
import { deviceOf } from '../presence-store.js';
import { publishChannelEvent } from './channel-event.js';
import type { RedisConnection } from './connection.js';
import type { NodeRegistry } from './node-registry.js';
import { presenceRemoveScript, presenceSetScript } from './scripts.js';

export interface RedisPresenceOptions {
  /** Whether join/leave events are pushed in a channel (by channel key); default: always. */
  joinLeave?: (channel: string) => boolean;
}

/** An entry as stored: the PresenceEntry plus the node that owns it. */
interface Stored {
  c: string;
  u: string;
  s: PresenceStatus;
  st: string | null;
  si: number;
  n: string;
  /** Token info JSON text, when the connection has one. */
  i?: string;
}

const decode = (value: string): Stored => JSON.parse(value) as Stored;
const entryOf = (s: Stored): PresenceEntry => ({ client: s.c, user: s.u, status: s.s, state: s.st, since: s.si, ...(s.i !== undefined ? { info: s.i } : {}) });

/**
 * Presence in Redis: one hash per channel (client -> entry with its owning node). An entry
 * lives as long as its node's heartbeat: reads leave out entries of dead nodes, and a
 * survivor sweeps them, publishing each leave event once (the removal is atomic, so only
 * one node gets the entry back).
 */
export class RedisPresenceStore implements PresenceStore {
  readonly #conn: RedisConnection;
  readonly #registry: NodeRegistry;
  readonly #joinLeave: (channel: string) => boolean;
  /** This node's entries, to restore after a lost registration and to remove on close. */
  readonly #mine = new Map<string, Map<string, PresenceEntry>>();
  /** Removals that failed (Redis away): retried after the next heartbeat. */
  readonly #orphans = new Map<string, Set<string>>();

  constructor(conn: RedisConnection, registry: NodeRegistry, options: RedisPresenceOptions = {}) {
    this.#conn = conn.retain();
    this.#registry = registry;
    this.#joinLeave = options.joinLeave ?? (() => true);
    registry.addHooks({
      sweep: (dead) => this.#sweep(dead),
      restore: () => this.#restore(),
      beat: () => this.#retryOrphans(),
    });
  }

  async set(channel: string, entry: PresenceEntry, maxEntries?: number): Promise<PresenceSetResult> {
    const cap = maxEntries === undefined || maxEntries === Infinity ? '' : Math.max(0, Math.floor(maxEntries));
    let mine = this.#mine.get(channel);
    if (!mine) {
      mine = new Map();
      this.#mine.set(channel, mine);
    }
    const had = mine.has(entry.client);
    // Remembered before the write: should the reply be lost, close and restore still know the entry.
    mine.set(entry.client, { ...entry });
    this.#orphans.get(channel)?.delete(entry.client);
    // Every stored entry holds its place, also one of a node taken for dead and not swept yet:
    // a node that is only slow must not let joins past the cap. A sweep frees the places.
    const result = await this.#write(channel, entry, cap);
    if (result === 'full' && !had) {
      mine.delete(entry.client);
      if (mine.size === 0 && this.#mine.get(channel) === mine) this.#mine.delete(channel);
      const { cmd, keys, nodeId } = this.#conn;
      cmd.srem(keys.nodePresence(nodeId), JSON.stringify([channel, entry.client])).catch(() => {});
    }
    return result;
  }

  async remove(channel: string, client: string): Promise<PresenceEntry | undefined> {
    const mine = this.#mine.get(channel);
    const wasMine = mine?.delete(client) ?? false;
    if (mine?.size === 0) this.#mine.delete(channel);
    try {
      const stored = await this.#remove(channel, client);
      return stored ? entryOf(stored) : undefined;
    } catch (err) {
      if (wasMine) this.#orphan(channel, client);
      throw err;
    }
  }

  async get(channel: string): Promise<PresenceEntry[]> {
    return (await this.#live(channel)).map(entryOf);
  }

  async counts(channel: string): Promise<PresenceCounts> {
    const entries = await this.#live(channel);
    return { users: new Set(entries.map((e) => e.u)).size, connections: entries.length };
  }

  /** Remove this node's remaining entries (with their leave events), then let go of Redis. */
  async close(): Promise<void> {
    await this.#conn.settle();
    const left = [...this.#mine].flatMap(([channel, entries]) => [...entries.keys()].map((client) => [channel, client] as const));
    this.#mine.clear();
    if (this.#conn.ready()) await Promise.allSettled(left.map(([channel, client]) => this.#removeAndAnnounce(channel, client)));
    await this.#conn.release();
  }

  async #live(channel: string): Promise<Stored[]> {
    const entries = (await this.#conn.track(this.#conn.cmd.hvals(this.#conn.keys.presence(channel)))).map(decode);
    const dead = await this.#registry.deadAmong(new Set(entries.map((e) => e.n)));
    return dead.size === 0 ? entries : entries.filter((e) => !dead.has(e.n));
  }

  /** Store an entry of this node, within `cap` entries ('' = no cap). */
  async #write(channel: string, entry: PresenceEntry, cap: number | ''): Promise<PresenceSetResult> {
    const { cmd, keys, nodeId } = this.#conn;
    const stored: Stored = {
      c: entry.client,
      u: entry.user,
      s: entry.status,
      st: entry.state,
      si: entry.since,
      n: nodeId,
      ...(entry.info !== undefined ? { i: entry.info } : {}),
    };
    // The node's index first: a crash between the two leaves an index line, never an unswept entry.
    const [, result] = await this.#conn.track(
      Promise.all([
        cmd.sadd(keys.nodePresence(nodeId), JSON.stringify([channel, entry.client])),
        presenceSetScript.run(cmd, [keys.presence(channel)], [entry.client, JSON.stringify(stored), cap]),
      ]),
    );
    return result as PresenceSetResult;
  }

  async #remove(channel: string, client: string): Promise<Stored | null> {
    const { cmd, keys } = this.#conn;
    const value = (await this.#conn.track(presenceRemoveScript.run(cmd, [keys.presence(channel)], [client]))) as string | null;
    if (!value) return null;
    const stored = decode(value);
    cmd.srem(keys.nodePresence(stored.n), JSON.stringify([channel, client])).catch(() => {});
    return stored;
  }

  async #removeAndAnnounce(channel: string, client: string): Promise<void> {
    const stored = await this.#remove(channel, client);
    if (stored) await this.#announce(channel, { kind: 'leave', user: stored.u, device: deviceOf(entryOf(stored)) });
  }

  async #announce(channel: string, event: ChannelEvent): Promise<void> {
    if (!this.#joinLeave(channel)) return;
    await publishChannelEvent(this.#conn, channel, event);
  }

  #orphan(channel: string, client: string): void {
    let set = this.#orphans.get(channel);
    if (!set) {
      set = new Set();
      this.#orphans.set(channel, set);
    }
    set.add(client);
  }

  #retryOrphans(): void {
    if (this.#orphans.size === 0) return;
    const orphans = [...this.#orphans].flatMap(([channel, clients]) => [...clients].map((client) => [channel, client] as const));
    this.#orphans.clear();
    for (const [channel, client] of orphans) {
      this.#removeAndAnnounce(channel, client).catch(() => this.#orphan(channel, client));
    }
  }

  /** A survivor's part of sweeping a dead node: its entries go, each leave is published once. */
  async #sweep(dead: string): Promise<void> {
    const { cmd, keys, logger } = this.#conn;
    const members = await this.#conn.track(cmd.smembers(keys.nodePresence(dead)));
    let removed = 0;
    await Promise.all(
      members.map(async (member) => {
        const [channel, client] = JSON.parse(member) as [string, string];
        const stored = await this.#remove(channel, client);
        if (!stored) return;
        removed++;
        await this.#announce(channel, { kind: 'leave', user: stored.u, device: deviceOf(entryOf(stored)) });
      }),
    );
    if (removed > 0) logger?.info({ dead, removed }, 'removed presence entries of a dead node');
  }

  /** After a lost registration: write this node's entries back, announcing those that were swept. */
  async #restore(): Promise<void> {
    const all = [...this.#mine].flatMap(([channel, entries]) => [...entries.values()].map((entry) => [channel, entry] as const));
    await Promise.all(
      all.map(async ([channel, entry]) => {
        if ((await this.#write(channel, entry, '')) === 'new') await this.#announce(channel, { kind: 'join', user: entry.user, device: deviceOf(entry) });
      }),
    );
  }
}
