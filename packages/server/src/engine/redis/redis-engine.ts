import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { Engine } from '../engine.js';
import { joinLeaveOf } from '../join-leave.js';
import { RedisConnection, type RedisConnectionOptions } from './connection.js';
import { NodeRegistry } from './node-registry.js';
import { RedisBroker } from './redis-broker.js';
import { RedisControlBus } from './redis-control-bus.js';
import { RedisLeaseStore } from './redis-lease-store.js';
import { RedisLimitStore } from './redis-limit-store.js';
import { RedisNodeMessages } from './redis-node-messages.js';
import { RedisPresenceStore } from './redis-presence.js';
import { parseAddresses } from './topology.js';

export interface RedisEngineOptions extends RedisConnectionOptions {
  /**
   * A node that stops refreshing its registration (crashed, or cut off from Redis) is taken
   * for dead after this long: its presence entries and connection slots go (ms, default 15000).
   */
  presenceTtl?: number;
  /** Whether join/leave events are pushed in a channel (by channel key); default: always. */
  joinLeave?: (channel: string) => boolean;
  /** How long listing channels waits for the other live nodes' answers (ms, default 1000). */
  surveyTimeout?: number;
  /** How often each node checks its subscribed channels' positions against Redis (ms, default 30000; 0 = never). */
  positionCheck?: number;
}

/**
 * The shared engine: every node started with the same Redis URL and prefix forms one
 * cluster behind any load balancer, without sticky sessions. Resolves once connected, or
 * after `connectWait` while Redis is still away (readiness is false until it connects).
 */
export async function createRedisEngine(options: RedisEngineOptions): Promise<Engine> {
  const conn = await RedisConnection.open(options);
  const registry = new NodeRegistry(conn, options.presenceTtl ?? 15_000);
  conn.retain();
  const limits = new RedisLimitStore(conn, registry);
  const broker = new RedisBroker(conn, { limits, ...(options.positionCheck !== undefined ? { positionCheck: options.positionCheck } : {}) });
  const presence = new RedisPresenceStore(conn, registry, options.joinLeave ? { joinLeave: options.joinLeave } : {});
  const control = await RedisControlBus.create(conn, registry, options.surveyTimeout !== undefined ? { surveyTimeout: options.surveyTimeout } : {});
  const messages = await RedisNodeMessages.create(conn, registry);
  const leases = new RedisLeaseStore(conn);
  registry.start();
  // The engine's parts hold the connection now.
  await conn.release();
  return { name: 'redis', broker, presence, control, limits, messages, leases };
}

/** Whether a config asks for the Redis engine: a URL, Sentinels or Redis Cluster nodes. */
export function usesRedis(config: Readonly<Config>): boolean {
  return Boolean(config.redis || config.redisSentinels || config.redisCluster);
}

/** Engine options from a validated config: where Redis is, prefix, node name, presence TTL, join/leave per namespace. */
export function redisEngineOptions(config: Readonly<Config>, logger?: Logger): RedisEngineOptions {
  const joinLeave = joinLeaveOf(config);
  return {
    url: config.redis ?? '',
    ...(config.redisSentinels ? { sentinels: parseAddresses(config.redisSentinels), sentinelMaster: config.redisSentinelMaster } : {}),
    ...(config.redisCluster ? { cluster: parseAddresses(config.redisCluster) } : {}),
    prefix: config.redisPrefix,
    presenceTtl: config.timeouts.presenceTtl,
    positionCheck: config.timeouts.positionCheck,
    joinLeave,
    ...(config.nodeId ? { nodeName: config.nodeId } : {}),
    ...(logger ? { logger } : {}),
  };
}
