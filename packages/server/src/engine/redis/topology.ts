import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** A Redis server, Sentinel or Cluster node address. */
export interface RedisAddress {
  host: string;
  port: number;
}

/** How to reach Redis: one server by URL, a master through Sentinels, or a Redis Cluster. */
export interface RedisTopologyOptions {
  /**
   * `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). With `sentinels` or
   * `cluster` only its credentials, TLS and db are used; '' for none.
   */
  url: string;
  /** Sentinels that locate the master named `sentinelMaster`. */
  sentinels?: readonly RedisAddress[];
  /** Master group name the Sentinels monitor (default `mymaster`). */
  sentinelMaster?: string;
  /** Seed nodes of a Redis Cluster. */
  cluster?: readonly RedisAddress[];
}

/** The command client: one connection, or a cluster client that routes each command by key slot. */
export type RedisClient = Redis | Cluster;

/** Parse `host:port[,host:port…]` (as validated by the config schema). */
export function parseAddresses(list: string): RedisAddress[] {
  return list.split(',').map((item) => {
    const text = item.trim();
    const colon = text.lastIndexOf(':');
    const host = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    return { host, port: Number(text.slice(colon + 1)) };
  });
}

/** Credentials, TLS and database of a Redis URL (its host and port are not used here). */
function urlOptions(url: string): RedisOptions {
  if (!url) return {};
  const u = new URL(url);
  const db = Number(u.pathname.slice(1) || '0');
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(Number.isSafeInteger(db) && db > 0 ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** The command client of a topology. `base` are the connection options shared by every connection. */
export function createCommandClient(topology: RedisTopologyOptions, base: RedisOptions): RedisClient {
  if (topology.cluster?.length) {
    const { db: _db, ...node } = { ...urlOptions(topology.url), ...base };
    return new Cluster([...topology.cluster], {
      // Fail fast while the cluster is away, as a single connection does.
      enableOfflineQueue: false,
      enableAutoPipelining: base.enableAutoPipelining ?? false,
      clusterRetryStrategy: base.retryStrategy ?? null,
      redisOptions: node,
    });
  }
  return createConnection(topology, base);
}

/**
 * One connection of a topology. In a Redis Cluster a plain PUBLISH reaches every node, so
 * the pub/sub connection is a single connection to any one node: `nodes` gives the current
 * ones (the command client knows them), and each reconnect tries the next, so the
 * subscription moves to a live node when its node dies.
 */
export function createConnection(topology: RedisTopologyOptions, base: RedisOptions, nodes?: () => RedisAddress[]): Redis {
  const options = { ...urlOptions(topology.url), ...base };
  if (topology.sentinels?.length) {
    // failoverDetector: reconnect as soon as the Sentinels announce a new master (+switch-master),
    // rather than when the old one drops the connection or answers READONLY.
    return new Redis({ failoverDetector: true, ...options, sentinels: [...topology.sentinels], name: topology.sentinelMaster ?? 'mymaster' });
  }
  if (topology.cluster?.length) {
    const seeds = topology.cluster;
    const { db: _db, ...node } = options;
    let turn = 0;
    const retry = base.retryStrategy;
    const redis: Redis = new Redis({
      ...node,
      host: seeds[0]?.host as string,
      port: seeds[0]?.port as number,
      retryStrategy: (attempt) => {
        const known = nodes?.() ?? [];
        const all = known.length > 0 ? known : [...seeds];
        // Another node than the one just lost, when there is one.
        const others = all.filter((a) => a.host !== redis.options.host || a.port !== redis.options.port);
        const candidates = others.length > 0 ? others : all;
        const next = candidates[turn++ % candidates.length] as RedisAddress;
        // The connector reads host and port from the options at each connect.
        redis.options.host = next.host;
        redis.options.port = next.port;
        return retry ? retry(attempt) : Math.min(attempt * 50, 2000);
      },
    });
    return redis;
  }
  return topology.url ? new Redis(topology.url, base) : new Redis(base);
}

/** The addresses of the nodes a cluster client currently knows; none for a single connection. */
export function clusterNodes(client: RedisClient): RedisAddress[] {
  if (!(client instanceof Cluster)) return [];
  return client.nodes('all').map((n) => ({ host: n.options.host as string, port: n.options.port as number }));
}

/** Run `fn` once on every primary of a cluster, or once on a single connection. */
export function onEveryPrimary(client: RedisClient, fn: (redis: Redis) => Promise<unknown>): Promise<unknown> {
  const targets = client instanceof Cluster ? client.nodes('master') : [client];
  return Promise.allSettled(targets.map(fn));
}
