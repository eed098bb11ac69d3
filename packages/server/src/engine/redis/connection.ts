import { randomBytes } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { RedisKeys } from './keys.js';
import { LEASE_SCRIPTS } from './lease-scripts.js';
import { RedisClock } from './redis-clock.js';
import { ALL_SCRIPTS } from './scripts.js';
import { clusterNodes, createCommandClient, createConnection, onEveryPrimary, type RedisClient, type RedisTopologyOptions } from './topology.js';

export interface RedisConnectionOptions extends RedisTopologyOptions {
  /** Key prefix, so several deployments can share one Redis (default `sb`). */
  prefix?: string;
  /** Names this node in its registry id and in `CLIENT LIST` (a random suffix is added). */
  nodeName?: string;
  /** A command without a reply after this long fails (ms, default 3000). */
  commandTimeout?: number;
  /** How long `open` waits for the first connection before it gives up waiting (ms, default 5000). */
  connectWait?: number;
  /** Extra ioredis options (TLS, credentials, Sentinel authentication, …), merged over ours. */
  redis?: RedisOptions;
  logger?: Logger;
}

type Listener = (message: string) => void;

const HEALTH_INTERVAL = 1000;
/** Consecutive failed health pings after which a connection is dropped and re-opened. */
const HEALTH_FAILURES_TO_RECONNECT = 3;
const SUBSCRIBE_BATCH = 500;

/**
 * The two Redis clients of a node (commands; pub/sub) and what they share: key layout,
 * node id, health, topic routing and resubscription after a reconnect. Commands never
 * queue while Redis is away: they fail at once, so a publish during an outage is refused
 * rather than acknowledged late or lost. Shared by the engine's parts, closed with the last.
 */
export class RedisConnection {
  /** Commands: one connection, or a Redis Cluster client routing each command to its slot's node. */
  readonly cmd: RedisClient;
  /** Pub/sub: one connection (in a cluster, to any node: a PUBLISH reaches every node). */
  readonly sub: Redis;
  readonly keys: RedisKeys;
  readonly nodeId: string;
  /** Commands go to a Redis Cluster: one script's keys must share a slot. */
  readonly clustered: boolean;
  readonly logger: Logger | undefined;
  /** Redis time estimated on this node (set by the heartbeats), for scripts' "now". */
  readonly clock = new RedisClock();
  readonly #routes = new Map<string, Listener>();
  readonly #onReady: Array<() => void> = [];
  readonly #onResubscribed: Array<() => void> = [];
  readonly #onShutdown: Array<() => Promise<void>> = [];
  readonly #health: NodeJS.Timeout;
  #healthy = { cmd: true, sub: true };
  #failures = { cmd: 0, sub: 0 };
  #resubscribing = false;
  #wasReady = { cmd: false, sub: false };
  #refs = 0;
  #pending = 0;
  #closed = false;

  private constructor(options: RedisConnectionOptions) {
    this.keys = new RedisKeys(options.prefix ?? 'sb');
    this.nodeId = `${options.nodeName || 'node'}-${randomBytes(4).toString('hex')}`;
    this.logger = options.logger;
    const base: RedisOptions = {
      // Fail fast while disconnected; never resend a command whose reply was lost.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      commandTimeout: options.commandTimeout ?? 3000,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
      // After a Sentinel failover the old master turns replica: reconnect to the new one.
      reconnectOnError: (err) => err.message.startsWith('READONLY'),
      ...options.redis,
    };
    const name = (role: string) => `sb:${this.keys.prefix}:${this.nodeId}:${role}`;
    // Commands issued in one event-loop turn (publishes, presence, limits of many connections)
    // leave in one write: ioredis's auto-pipelining. The pub/sub connection never waits behind them.
    this.cmd = createCommandClient(options, { enableAutoPipelining: true, ...base, connectionName: name('cmd') });
    this.clustered = Boolean(options.cluster?.length);
    this.sub = createConnection(options, { ...base, connectionName: name('sub') }, () => clusterNodes(this.cmd));
    this.#watch('cmd', this.cmd);
    this.#watch('sub', this.sub);
    this.sub.on('message', (topic: string, message: string) => this.#routes.get(topic)?.(message));
    this.#health = setInterval(() => this.#checkHealth(), HEALTH_INTERVAL);
    this.#health.unref();
  }

  /** Connect; resolves once both connections are ready, or after `connectWait` (then not ready yet). */
  static async open(options: RedisConnectionOptions): Promise<RedisConnection> {
    const conn = new RedisConnection(options);
    const wait = options.connectWait ?? 5000;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        conn.logger?.warn({ node: conn.nodeId }, 'redis not reachable yet; starting unready and retrying');
        resolve();
      }, wait);
      const check = () => {
        if (!conn.ready()) return;
        clearTimeout(timer);
        resolve();
      };
      conn.onReady(check);
      conn.onResubscribed(check);
      check();
    });
    return conn;
  }

  /** Both connections are up, answer health pings, and every topic is subscribed again. */
  ready(): boolean {
    return !this.#closed && this.cmd.status === 'ready' && this.sub.status === 'ready' && this.#healthy.cmd && this.#healthy.sub && !this.#resubscribing;
  }

  /** Called each time the command connection becomes ready (also the first time). */
  onReady(fn: () => void): void {
    this.#onReady.push(fn);
  }

  /** Called each time the pub/sub connection has subscribed every topic again after a reconnect. */
  onResubscribed(fn: () => void): void {
    this.#onResubscribed.push(fn);
  }

  /** Count a Redis operation as in flight (see `settle`). */
  async track<T>(op: Promise<T>): Promise<T> {
    this.#pending++;
    try {
      return await op;
    } finally {
      this.#pending--;
    }
  }

  /** Wait until no tracked operation is in flight, including ones started by their callbacks. */
  async settle(timeout = 2000): Promise<void> {
    const deadline = Date.now() + timeout;
    let quiet = 0;
    while (quiet < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setImmediate(resolve));
      quiet = this.#pending === 0 ? quiet + 1 : 0;
      if (quiet === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /**
   * Route a topic's messages to `listener` and subscribe it. On failure the route is dropped,
   * unless `keep`: then the topic is subscribed when the connection comes back.
   */
  async subscribe(topic: string, listener: Listener, keep = false): Promise<void> {
    this.#routes.set(topic, listener);
    try {
      await this.track(this.sub.subscribe(topic));
    } catch (err) {
      if (!keep && this.#routes.get(topic) === listener) this.#routes.delete(topic);
      throw err;
    }
  }

  async unsubscribe(topic: string): Promise<void> {
    if (!this.#routes.delete(topic)) return;
    // While disconnected there is nothing to undo: only routed topics are subscribed again.
    if (this.sub.status !== 'ready') return;
    await this.track(this.sub.unsubscribe(topic));
  }

  get subscribedTopics(): number {
    return this.#routes.size;
  }

  /** Part of the engine starts using the connection; `release` when it closes. */
  retain(): this {
    this.#refs++;
    return this;
  }

  /** Run before the connections close (when the last part releases them). */
  onShutdown(fn: () => Promise<void>): void {
    this.#onShutdown.push(fn);
  }

  async release(): Promise<void> {
    if (--this.#refs > 0 || this.#closed) return;
    for (const fn of this.#onShutdown) {
      try {
        await fn();
      } catch (err) {
        this.logger?.warn({ err }, 'redis engine shutdown step failed');
      }
    }
    this.#closed = true;
    clearInterval(this.#health);
    await Promise.all([quit(this.cmd), quit(this.sub)]);
  }

  #watch(role: 'cmd' | 'sub', redis: RedisClient): void {
    let lastError = '';
    redis.on('error', (err: Error) => {
      // Reconnect attempts repeat the same error: log each distinct one once.
      if (err.message === lastError) return;
      lastError = err.message;
      this.logger?.warn({ err: err.message, role, node: this.nodeId }, 'redis connection error');
    });
    redis.on('close', () => {
      if (!this.#wasReady[role] || this.#closed) return;
      this.#wasReady[role] = false;
      this.logger?.warn({ role, node: this.nodeId }, 'redis connection lost; reconnecting');
    });
    redis.on('ready', () => {
      lastError = '';
      this.#healthy[role] = true;
      this.#failures[role] = 0;
      if (this.#wasReady[role] === false && this.#closed === false) this.logger?.info({ role, node: this.nodeId }, 'redis connection ready');
      this.#wasReady[role] = true;
      if (role === 'cmd') {
        this.clock.reset();
        void onEveryPrimary(this.cmd, (r) => Promise.all([...ALL_SCRIPTS, ...LEASE_SCRIPTS].map((s) => r.script('LOAD', s.lua))));
        for (const fn of this.#onReady) fn();
      } else {
        this.#resubscribe().catch((err) => this.logger?.warn({ err }, 'redis resubscribe failed'));
      }
    });
  }

  async #resubscribe(): Promise<void> {
    this.#resubscribing = true;
    try {
      const topics = [...this.#routes.keys()];
      for (let i = 0; i < topics.length; i += SUBSCRIBE_BATCH) await this.sub.subscribe(...topics.slice(i, i + SUBSCRIBE_BATCH));
      // Topics given up while we subscribed: undo them.
      const dropped = topics.filter((t) => !this.#routes.has(t));
      if (dropped.length > 0) await this.sub.unsubscribe(...dropped);
    } catch (err) {
      // The connection dropped again; the next 'ready' starts over.
      this.logger?.debug({ err }, 'resubscribe interrupted');
      return;
    } finally {
      this.#resubscribing = false;
    }
    for (const fn of this.#onResubscribed) fn();
  }

  #checkHealth(): void {
    for (const role of ['cmd', 'sub'] as const) {
      const redis: RedisClient = role === 'cmd' ? this.cmd : this.sub;
      if (redis.status !== 'ready') continue;
      redis.ping().then(
        () => {
          this.#healthy[role] = true;
          this.#failures[role] = 0;
        },
        () => {
          // Connected but unanswered (Redis paused or the network half-open).
          this.#healthy[role] = false;
          if (++this.#failures[role] >= HEALTH_FAILURES_TO_RECONNECT) {
            this.#failures[role] = 0;
            this.logger?.warn({ role, node: this.nodeId }, 'redis not answering; reconnecting');
            redis.disconnect(true);
          }
        },
      );
    }
  }
}

async function quit(redis: RedisClient): Promise<void> {
  if (redis.status === 'end') return;
  try {
    if (redis.status === 'ready') await redis.quit();
    else redis.disconnect();
  } catch {
    redis.disconnect();
  }
}
