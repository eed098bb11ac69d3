import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ApiKeyStore } from './auth/api-keys.js';
import { loadKeyMaterial } from './auth/key-files.js';
import { type TokenClaims, mintToken } from './auth/mint.js';
import { TokenVerifier } from './auth/token-verifier.js';
import { loadConfig, parseConfig } from './config/load.js';
import type { Config, ConfigInput } from './config/schema.js';
import type { FeatureModule } from './core/modules.js';
import { Node } from './core/node.js';
import { createError } from './core/sb-error.js';
import type { Engine } from './engine/engine.js';
import { createMemoryEngine } from './engine/memory-engine.js';
import { createRedisEngine, redisEngineOptions, usesRedis } from './engine/redis/redis-engine.js';
import { activityFeature } from './features/activity/index.js';
import { notificationsFeature } from './features/notifications/index.js';
import { createHttpApp } from './http/app.js';
import { createLogger } from './observability/logger.js';
import { migrateToLatest } from './storage/migrate.js';
import { Storage } from './storage/storage.js';
import { WebSocketTransport } from './transport/ws-transport.js';

export interface SwitchboardOptions {
  /** A validated config, or raw input validated here (defaults < input). */
  config?: Config | ConfigInput;
  logger?: Logger;
  engine?: Engine;
  features?: readonly FeatureModule[];
  /** Clock in Unix ms for token checks and connection deadlines (default `Date.now`); tests move it instead of waiting. */
  now?: () => number;
}

/**
 * One Switchboard server: node, HTTP app and WebSocket transport. Standalone with
 * `listen()`, or mounted into an existing HTTP server with `attach(server)`.
 */
export class Switchboard {
  #closed = false;

  private constructor(
    readonly config: Readonly<Config>,
    readonly node: Node,
    readonly app: FastifyInstance,
    readonly transport: WebSocketTransport,
    readonly logger: Logger,
    readonly secret: string | undefined,
    readonly devAdminKey: string | undefined,
    /** Durable data (SQLite in the data directory, or PostgreSQL at `database`). */
    readonly storage: Storage,
  ) {}

  static async create(options: SwitchboardOptions = {}): Promise<Switchboard> {
    const config = parseConfig((options.config ?? {}) as ConfigInput);
    const logger = options.logger ?? createLogger(config.logLevel);
    const keys = loadKeyMaterial(config);
    const now = options.now ?? Date.now;
    const verifier = await TokenVerifier.create(config.auth, keys.secret, now);
    const engine = options.engine ?? (usesRedis(config) ? await createRedisEngine(redisEngineOptions(config, logger)) : createMemoryEngine(Date.now, config.limits.maxIdleStreams));
    const storage = Storage.open({ database: config.database, dataDir: config.dataDir });
    try {
      await migrateToLatest(storage, (p) => {
        if (p.kind === 'applied') logger.info({ migration: p.name, ms: p.ms }, 'migration applied');
      });
    } catch (err) {
      await storage.close();
      throw err;
    }
    const durable = [notificationsFeature(storage), activityFeature(storage)];
    const node = new Node({ config, engine, verifier, logger, now, features: [...durable, ...(options.features ?? [])] });
    const app = await createHttpApp(node, new ApiKeyStore(keys.apiKeys));
    const transport = new WebSocketTransport(node);
    transport.attach(app.server);
    await node.start();
    return new Switchboard(config, node, app, transport, logger, keys.secret, keys.devAdminKey, storage);
  }

  /** Also accept WebSockets on another HTTP server (mounting into an existing app). */
  attach(server: Server): void {
    this.transport.attach(server);
  }

  async listen(port = this.config.port, host = this.config.host): Promise<{ port: number; host: string }> {
    try {
      await this.app.listen({ port, host });
    } catch (err) {
      throw createError('SB_ERR_LISTEN', `${host}:${port}: ${(err as Error).message}`);
    }
    const address = this.app.server.address() as AddressInfo;
    return { port: address.port, host };
  }

  /** Mint a token with the configured HMAC secret (development and tests). */
  async mintToken(claims: TokenClaims): Promise<string> {
    if (!this.secret) throw createError('SB_ERR_NO_TOKEN_KEY', 'no HMAC secret to mint tokens with');
    return mintToken(this.secret, claims);
  }

  /**
   * Graceful shutdown: readiness fails, no new connections, in-flight publishes finish,
   * clients get the "shutdown, reconnect with jitter" close, then everything stops.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.node.drain();
    this.transport.close();
    await this.app.close();
    await this.node.close();
    const { engine } = this.node;
    await Promise.allSettled([engine.broker.close(), engine.presence.close(), engine.control.close(), engine.limits.close(), this.storage.close()]);
  }
}

export { loadConfig };
