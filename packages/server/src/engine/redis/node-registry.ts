import { performance } from 'node:perf_hooks';
import type { RedisConnection } from './connection.js';
import { forgetNodeScript, heartbeatScript, timeScript } from './scripts.js';

/** What the parts of the engine do when nodes come and go. */
export interface NodeHooks {
  /** Remove what a dead node left behind (presence, connection slots); one survivor at a time. */
  sweep?(dead: string): Promise<void>;
  /** The others took this node for dead and swept it (a long outage): put its state back. */
  restore?(): Promise<void>;
  /** After each heartbeat that reached Redis. */
  beat?(): void;
}

/** A sweep mark outlives any outage a node could come back from (ms). */
const SWEPT_MARK_TTL = 24 * 3_600_000;
/** Re-reading the registry for a node whose known registration expired is throttled to this (ms). */
const REFRESH_INTERVAL = 250;
/** A beat due at another node's expiry runs this long after it, so the clocks' skew estimate cannot make it early (ms). */
const EXPIRY_MARGIN = 25;

/**
 * Nodes and their liveness: each node refreshes its entry in a sorted set (score = expiry,
 * Redis time) every ttl/3. A node whose entry expired is dead: the first survivor to take
 * its sweep lock removes its presence entries (publishing the leave events once) and
 * releases its connection slots, then forgets it. One heartbeat refreshes every presence
 * entry and slot a node holds, instead of one write per entry.
 */
export class NodeRegistry {
  readonly #conn: RedisConnection;
  readonly #hooks: NodeHooks[] = [];
  readonly #live = new Map<string, number>();
  readonly #sweeping = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  /** A beat at the earliest expiry of the other nodes: a node that died is swept within the TTL of its last heartbeat. */
  #expiryWatch: NodeJS.Timeout | null = null;
  #registered = false;
  #stopped = false;
  #beating: Promise<void> | null = null;
  #skew = 0;
  #fetched = 0;

  readonly ttl: number;

  constructor(conn: RedisConnection, ttl: number) {
    this.#conn = conn;
    this.ttl = Math.max(500, ttl);
    conn.onShutdown(() => this.stop());
  }

  get id(): string {
    return this.#conn.nodeId;
  }

  addHooks(hooks: NodeHooks): void {
    this.#hooks.push(hooks);
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.beat(), Math.max(100, Math.floor(this.ttl / 3)));
    this.#timer.unref();
    this.#conn.onReady(() => void this.beat());
    void this.beat();
  }

  /** One heartbeat (single flight); also sweeps the dead nodes it finds. */
  beat(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#beating ??= this.#beat().finally(() => {
      this.#beating = null;
    });
    return this.#beating;
  }

  async #beat(): Promise<void> {
    const { cmd, keys, logger } = this.#conn;
    let reply: [number, number, string[], string[], string, string];
    const sentAt = performance.now();
    try {
      reply = (await this.#conn.track(heartbeatScript.run(cmd, [keys.nodes], [this.id, this.ttl]))) as typeof reply;
    } catch (err) {
      logger?.debug({ err }, 'node heartbeat failed');
      return;
    }
    const [registered, now, dead, live, seconds, micros] = reply;
    this.#conn.clock.sample(Number(seconds) * 1000 + Number(micros) / 1000, sentAt, performance.now());
    this.#skew = now - Date.now();
    this.#setLive(live);
    this.#watchExpiries();
    // Swept while registered again (the sweep raced this node's return): restore as well.
    const swept = await this.#conn.track(cmd.getdel(keys.nodeSwept(this.id))).catch(() => null);
    if (swept !== null || (!registered && this.#registered)) {
      logger?.warn({ node: this.id }, 'this node was taken for dead (registration lost); restoring its presence and slots');
      for (const h of this.#hooks) await h.restore?.().catch((err) => logger?.warn({ err }, 'restore after lost registration failed'));
    }
    this.#registered = true;
    await this.#conn.clock
      .calibrate(async () => (await this.#conn.track(timeScript.run(cmd, [keys.nodes], []))) as [string, string])
      .catch((err) => logger?.debug({ err }, 'reading Redis time failed'));
    for (const h of this.#hooks) h.beat?.();
    for (const node of dead) if (node !== this.id) void this.#sweep(node);
  }

  /** The nodes among `nodes` that are dead (their entries are stale). */
  async deadAmong(nodes: Iterable<string>): Promise<Set<string>> {
    const suspects = [...nodes].filter((n) => !this.#isLive(n));
    if (suspects.length === 0) return new Set();
    // A node never seen may have registered since the last read: always look again for it.
    const unseen = suspects.some((n) => !this.#live.has(n));
    if (unseen || Date.now() - this.#fetched >= Math.min(REFRESH_INTERVAL, this.ttl / 4)) {
      const { cmd, keys } = this.#conn;
      this.#setLive(await this.#conn.track(cmd.zrangebyscore(keys.nodes, '-inf', '+inf', 'WITHSCORES')));
    }
    const dead = new Set(suspects.filter((n) => !this.#isLive(n)));
    if (dead.size > 0) void this.beat();
    return dead;
  }

  /** The nodes registered as live now, this one included (reads the registry). */
  async liveNodes(): Promise<string[]> {
    const { cmd, keys } = this.#conn;
    this.#setLive(await this.#conn.track(cmd.zrangebyscore(keys.nodes, '-inf', '+inf', 'WITHSCORES')));
    const live = [...this.#live.keys()].filter((n) => this.#isLive(n));
    return live.includes(this.id) ? live : [this.id, ...live];
  }

  /** Stop heartbeating and leave the registry (after the other parts cleaned up). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#expiryWatch) clearTimeout(this.#expiryWatch);
    this.#expiryWatch = null;
    await this.#beating;
    const { cmd, keys } = this.#conn;
    if (!this.#conn.ready()) return;
    await cmd.zrem(keys.nodes, this.id);
    await cmd.del(keys.nodePresence(this.id), keys.nodeTenants(this.id), keys.nodeSweepLock(this.id), keys.nodeSwept(this.id));
  }

  /**
   * Beat again when the first of the other nodes' registrations would expire. A live node
   * refreshes its own every ttl/3, so this beat is always rescheduled by the next regular
   * one before it is due; it only runs for a node that stopped, which is then swept within
   * the TTL of its last heartbeat instead of up to ttl/3 later.
   */
  #watchExpiries(): void {
    if (this.#expiryWatch) clearTimeout(this.#expiryWatch);
    this.#expiryWatch = null;
    if (!this.#timer) return;
    let first = Number.POSITIVE_INFINITY;
    for (const [node, expires] of this.#live) if (node !== this.id && expires < first) first = expires;
    if (first === Number.POSITIVE_INFINITY) return;
    const delay = Math.max(0, first - (Date.now() + this.#skew)) + EXPIRY_MARGIN;
    this.#expiryWatch = setTimeout(() => void this.beat(), delay);
    this.#expiryWatch.unref();
  }

  #isLive(node: string): boolean {
    if (node === this.id) return true;
    const expires = this.#live.get(node);
    return expires !== undefined && expires > Date.now() + this.#skew;
  }

  #setLive(flat: string[]): void {
    this.#live.clear();
    for (let i = 0; i + 1 < flat.length; i += 2) this.#live.set(flat[i] as string, Number(flat[i + 1]));
    this.#fetched = Date.now();
  }

  async #sweep(node: string): Promise<void> {
    if (this.#sweeping.has(node)) return;
    this.#sweeping.add(node);
    const { cmd, keys, logger } = this.#conn;
    try {
      const lock = await this.#conn.track(cmd.set(keys.nodeSweepLock(node), this.id, 'PX', this.ttl * 2, 'NX'));
      if (lock === null) return;
      logger?.info({ dead: node, node: this.id }, 'sweeping a dead node');
      // Marked before and after: should the node be alive after all, its next heartbeat restores
      // whatever this sweep removed, even what it removed after an earlier restore.
      const mark = () => this.#conn.track(cmd.set(keys.nodeSwept(node), this.id, 'PX', SWEPT_MARK_TTL));
      await mark();
      for (const h of this.#hooks) await h.sweep?.(node);
      await mark();
      const forgotten = await this.#conn.track(forgetNodeScript.run(cmd, [keys.nodes], [node]));
      if (forgotten === 1) await this.#conn.track(cmd.del(keys.nodePresence(node), keys.nodeTenants(node), keys.nodeSweepLock(node)));
    } catch (err) {
      logger?.warn({ err, dead: node }, 'sweeping a dead node failed; another heartbeat will retry');
    } finally {
      this.#sweeping.delete(node);
    }
  }
}
