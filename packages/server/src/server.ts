import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { apiKeyStore, loadKeyMaterial } from './auth/key-files.js';
import { mintToken, type TokenClaims } from './auth/mint.js';
import { TokenVerifier } from './auth/token-verifier.js';
import { parseConfig } from './config/load.js';
import type { Config, ConfigInput } from './config/schema.js';
import { Node } from './core/node.js';
import { ScheduledPublications } from './core/scheduled-publications.js';
import type { Engine } from './engine/engine.js';
import { createMemoryEngine } from './engine/memory-engine.js';
import { createRedisEngine, redisEngineOptions, usesRedis } from './engine/redis/redis-engine.js';
import { createError } from './errors/sb-error.js';
import { builtinFeatures, loadConfig } from './features/builtin.js';
import { FeatureHost } from './features/host.js';
import type { FeatureModule } from './features/manifest.js';
import { createHttpApp } from './http/app.js';
import { findSdkBuild, type SdkBuild } from './http/sdk.js';
import { readTlsFiles, type TlsFiles, type TlsMaterial } from './http/tls-files.js';
import { HealthProbe } from './observability/health-probe.js';
import type { HostView } from './observability/host-view.js';
import { createLogger } from './observability/logger.js';
import { addTlsMetrics } from './observability/metrics.js';
import { JobRunner } from './storage/job-runner.js';
import { migrateToLatest } from './storage/migrate.js';
import { Storage } from './storage/storage.js';
import { FALLBACK_PATH, SseTransport } from './transport/sse-transport.js';
import { WebSocketTransport } from './transport/ws-transport.js';

/** On close, HTTP connections still open after this long (ms) are destroyed. */
const FORCE_CLOSE_AFTER = 1000;
/** How often readiness probes the database (a `select 1` bounded at 2 s). */
const DATABASE_PROBE_INTERVAL = 2000;

export interface SwitchboardOptions {
  /** A validated config, or raw input validated here (defaults < input). */
  config?: Config | ConfigInput;
  logger?: Logger;
  engine?: Engine;
  /** Features of the embedding app, registered after the built-in ones. */
  features?: readonly FeatureModule[];
  /** Clock in Unix ms for token checks, connection deadlines and `mintToken` (default `Date.now`); tests move it instead of waiting. */
  now?: () => number;
  /** Run the built-in features (notifications, activity); default true. */
  builtinFeatures?: boolean;
  /** Given to a worker of several processes: `/metrics` and `/readyz` answer for all of them. */
  hostView?: HostView;
}

/** The certificate a TLS server presents (`Switchboard.tls`), as read from `tlsCert`. */
export interface TlsCertificateInfo {
  /** SHA-256 fingerprint of the leaf certificate, `AB:CD:…`. */
  fingerprint256: string;
  /** notAfter as the certificate gives it, e.g. `Jan  3 20:36:56 2027 GMT`. */
  validTo: string;
  /** Subject, one `key=value` per line, e.g. `CN=rt.example.com`. */
  subject: string;
}

/**
 * One Switchboard server: node, HTTP app, WebSocket transport and its SSE fallback. Standalone
 * with `listen()` (HTTPS and WSS with `tlsCert` / `tlsKey`), or mounted into an existing HTTP
 * server with `attach(server)`.
 */
export class Switchboard {
  #closed = false;
  #tls: TlsMaterial | null = null;
  #tlsReloads: ReturnType<typeof addTlsMetrics> | null = null;

  private constructor(
    readonly config: Readonly<Config>,
    readonly node: Node,
    readonly app: FastifyInstance,
    readonly transport: WebSocketTransport,
    /** The fallback for networks that block WebSockets: Server-Sent Events + POST at `/ws/sse`. */
    readonly fallback: SseTransport,
    readonly logger: Logger,
    readonly secret: string | undefined,
    readonly devAdminKey: string | undefined,
    /** Durable data (SQLite in the data directory, or PostgreSQL at `database`). */
    readonly storage: Storage,
    /** The features of this server, in registration order (their routes, migrations, services). */
    readonly features: FeatureHost,
    /** The database's last probe: readiness fails while it does not answer. */
    readonly database: HealthProbe,
    /** The SDK's browser build served at /sdk/ (null when @switchboard/client's build is missing). */
    readonly sdk: SdkBuild | null,
    /** This node's job runner: scheduled publications and the features' jobs. */
    readonly jobs: JobRunner,
  ) {}

  static async create(options: SwitchboardOptions = {}): Promise<Switchboard> {
    const features = new FeatureHost([...(options.builtinFeatures === false ? [] : builtinFeatures()), ...(options.features ?? [])]);
    const config = parseConfig((options.config ?? {}) as ConfigInput, features.configSchema());
    const logger = options.logger ?? createLogger(config.logLevel);
    // Certificate problems stop the start before anything opens, naming the file.
    const files = tlsFiles(config);
    const tls = files ? readTlsFiles(files) : null;
    const keys = loadKeyMaterial(config);
    const now = options.now ?? Date.now;
    const verifier = await TokenVerifier.create(config.auth, keys.secret, now);
    const engine =
      options.engine ??
      (usesRedis(config) ? await createRedisEngine(redisEngineOptions(config, logger)) : createMemoryEngine(Date.now, config.limits.maxIdleStreams));
    const node = new Node({ config, engine, verifier, logger, now, features: features.features });
    const apiKeys = apiKeyStore(config, (err) => logger.warn({ err }, 'reading the API key file failed; keeping the keys read before'));
    apiKeys.onChange(({ created, revoked }) => {
      if (!node.security.active) return;
      const actor = { keyId: null, ip: null };
      for (const k of created) node.security.report({ type: 'admin.apikey_created', tenant: k.tenant, actor, target: { keyId: k.id } });
      for (const k of revoked) node.security.report({ type: 'admin.apikey_revoked', tenant: k.tenant, actor, target: { keyId: k.id } });
    });
    const sdk = findSdkBuild();
    const jobs = new JobRunner({ config: config.jobs, now, logger: logger.child({ component: 'jobs' }), nodeId: node.id });
    const scheduled = new ScheduledPublications(node, jobs);
    scheduled.register();
    // The console's connection tokens and the demo workspace's, minted with the HMAC secret on the node's clock.
    const secret = keys.secret;
    const mint = secret ? (claims: TokenClaims) => mintToken(secret, claims, now) : null;
    const app = await createHttpApp(node, apiKeys, features.routes(config), sdk, tls, () => scheduled, options.hostView ?? null, mint);
    // Endpoint paths are checked here too, before storage opens.
    const transport = new WebSocketTransport(node, features.endpoints(config), features.connectionHeaders(config));
    const storage = Storage.open({ database: config.database, dataDir: config.dataDir, sqliteCacheMb: config.sqliteCacheMb });
    try {
      await migrateToLatest(storage, features.migrations(), (p) => {
        if (p.kind === 'applied') logger.info({ migration: p.name, ms: p.ms }, 'migration applied');
      });
    } catch (err) {
      await storage.close();
      throw err;
    }
    jobs.open(storage);
    const database = new HealthProbe('database', () => storage.probe(), DATABASE_PROBE_INTERVAL, logger);
    node.addReadinessCheck('database', () => database.problem);
    database.start();
    transport.attach(app.server);
    // A plain GET on a WebSocket path says what an upgrade from the caller's Origin would meet.
    for (const path of transport.paths) {
      app.get(path, async (req, reply) => {
        const origin = req.headers.origin;
        if (origin !== undefined) reply.header('access-control-allow-origin', origin).header('vary', 'origin');
        return reply.header('cache-control', 'no-store').send(transport.probe(origin));
      });
    }
    const fallback = new SseTransport(node, transport.admission);
    app.route({
      method: ['GET', 'POST', 'OPTIONS'],
      url: FALLBACK_PATH,
      // Taken over before the body is parsed: the transport reads POSTs itself, within maxMessageBytes.
      onRequest: (req, reply, done) => {
        reply.hijack();
        fallback.handle(req.raw, reply.raw);
        done();
      },
      handler: async () => undefined,
    });
    const server = new Switchboard(config, node, app, transport, fallback, logger, keys.secret, keys.devAdminKey, storage, features, database, sdk, jobs);
    if (tls) {
      server.#tls = tls;
      server.#tlsReloads = addTlsMetrics(node.metrics.registry, () => Date.parse(server.#tls?.validTo ?? '') / 1000);
    }
    try {
      await node.start({ storage, feature: <T>(name: string) => features.service<T>(name) });
      await features.start(node, storage, jobs);
      jobs.start();
    } catch (err) {
      await server.close().catch((closeErr) => logger.warn({ err: closeErr }, 'closing after a failed start failed'));
      throw err;
    }
    return server;
  }

  /**
   * The service a running feature provides (what its `start` returned), for the embedding app.
   * @example const inbox = server.feature<Inbox>('notifications');
   */
  feature<T>(name: string): T {
    return this.features.service<T>(name);
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

  /** The certificate new TLS connections get; null without TLS (plain HTTP and WS). */
  get tls(): TlsCertificateInfo | null {
    if (!this.#tls) return null;
    const { fingerprint256, validTo, subject } = this.#tls;
    return { fingerprint256, validTo, subject };
  }

  /**
   * Read `tlsCert` and `tlsKey` again and give new TLS handshakes the new certificate (what
   * SIGHUP does for `switchboard serve`, e.g. after `certbot renew`). Open connections keep
   * theirs. A file that cannot be read, is not PEM or does not match throws `SB_ERR_TLS`
   * naming it, and is logged; the certificate in use is kept.
   * @example await server.reloadTls(); // after the files were replaced
   */
  async reloadTls(): Promise<TlsCertificateInfo> {
    const files = tlsFiles(this.config);
    if (!files || !this.#tls) throw createError('SB_ERR_TLS', 'no TLS configured (tlsCert / tlsKey): nothing to reload');
    let next: TlsMaterial;
    try {
      next = readTlsFiles(files);
    } catch (err) {
      this.#tlsReloads?.inc({ result: 'failed' });
      this.logger.error({ err, fingerprint256: this.#tls.fingerprint256 }, 'TLS reload failed; keeping the certificate in use');
      throw err;
    }
    (this.app.server as unknown as TlsServer).setSecureContext({ cert: next.cert, key: next.key });
    this.#tls = next;
    this.#tlsReloads?.inc({ result: 'ok' });
    if (this.node.security.active)
      this.node.security.report({
        type: 'admin.config_reloaded',
        tenant: null,
        actor: { keyId: null, ip: null },
        target: { what: 'tls', fingerprint256: next.fingerprint256 },
      });
    this.logger.info({ fingerprint256: next.fingerprint256, validTo: next.validTo, subject: next.subject }, 'TLS certificate reloaded');
    return this.tls as TlsCertificateInfo;
  }

  /** Mint a token with the configured HMAC secret (development and tests), on the server's clock. */
  async mintToken(claims: TokenClaims): Promise<string> {
    if (!this.secret) throw createError('SB_ERR_NO_TOKEN_KEY', 'no HMAC secret to mint tokens with');
    return mintToken(this.secret, claims, this.node.now);
  }

  /**
   * Graceful shutdown: readiness fails, no new connections, in-flight publishes finish,
   * clients get the "shutdown, reconnect with jitter" close, then everything stops.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // No job starts after this; those running may still publish before the node drains.
    await this.jobs.stop(this.config.timeouts.shutdown / 2);
    await this.node.drain();
    this.transport.close();
    this.fallback.close();
    // HTTP connections still open a second after the close went out (event streams whose
    // readers linger, connections a client opened and never used) do not hold up the exit.
    const force = setTimeout(() => this.app.server.closeAllConnections(), FORCE_CLOSE_AFTER);
    await this.app.close();
    clearTimeout(force);
    await this.node.close();
    await this.features.stop();
    this.database.stop();
    const { engine } = this.node;
    await Promise.allSettled([
      engine.broker.close(),
      engine.presence.close(),
      engine.control.close(),
      engine.limits.close(),
      engine.messages.close(),
      engine.leases.close(),
      this.storage.close(),
    ]);
  }
}

function tlsFiles(config: Config): TlsFiles | null {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return null;
  return { cert: config.tlsCert, key: config.tlsKey, passphrase: config.tlsPassphrase };
}

export { loadConfig };
