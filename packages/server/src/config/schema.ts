import { PUBLICATION_PRIORITIES } from '@switchboard/protocol';
import { z } from 'zod';
import { bool, duration, int, stringList } from './fields.js';

/** `host:port[,host:port…]`; a host may be a name, IPv4 or a bracketed IPv6 address. */
const HOST_PORTS = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}(?:,\s*(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5})*$/;
const list = (description: string) => stringList().default([]).describe(description);

/** A JSON Schema: an object, or `true` / `false`. Checked and compiled when the node starts. */
const jsonSchema = z.union([z.boolean(), z.record(z.string(), z.unknown())]);

/** Bounds of a namespace's conflation window, ms: the timer wheel's tick, one minute. */
export const CONFLATION_WINDOW_MIN = 50;
export const CONFLATION_WINDOW_MAX = 60_000;
const CONFLATION_KEY_MAX_PARTS = 8;
/** A conflation key: 1–8 names of `[A-Za-z0-9_-]` (each 1–64 characters) joined by `.`. */
const CONFLATION_KEY = new RegExp(`^[A-Za-z0-9_-]{1,64}(?:\\.[A-Za-z0-9_-]{1,64}){0,${CONFLATION_KEY_MAX_PARTS - 1}}$`);

/** Options of one channel namespace. */
export const namespaceSchema = z.strictObject({
  /** Publications kept per channel for history and recovery (0 disables both). */
  historySize: int(100, 0, 100_000, 'publications kept per channel'),
  /** How long publications stay in history. */
  historyTtl: duration('5m', 'how long publications stay in history'),
  /** Whether clients may enter presence in this namespace. */
  presence: bool(true, 'clients may enter presence'),
  /** Whether join / leave / update events are pushed to subscribers. */
  joinLeave: bool(true, 'push presence join/leave/update events'),
  /** Whether clients (with the publish capability) may publish; the HTTP API always may. */
  clientPublish: bool(true, 'clients may publish'),
  /** Whether clients may send ephemeral signals (typing, cursors). */
  signals: bool(true, 'clients may send signals'),
  /** Whether reconnecting clients may recover missed publications. */
  recovery: bool(true, 'clients may recover missed publications'),
  /** Whether publications carry the publisher's user and client id. */
  publisherInfo: bool(true, 'publications carry publisher info'),
  /**
   * Who may subscribe: `capability` — a token capability must match (default);
   * `owner` — only `ns:{sub}` by its own user (personal channels);
   * `authenticated` — any connected user of the tenant.
   */
  subscribe: z
    .enum(['capability', 'owner', 'authenticated'])
    .default('capability')
    .describe('who may subscribe: capability | owner | authenticated (default capability)'),
  /** Whether publications may carry tags and subscriptions may filter on them (off: `108`). */
  tags: bool(true, 'publications may carry tags and subscriptions filter on them'),
  /**
   * Whether subscribers may ask for delta delivery (`delta: "fossil"` in subscribe): each
   * publication that follows the one they received last comes as a fossil delta from it.
   */
  delta: bool(false, 'subscribers may receive consecutive publications as fossil deltas'),
  /**
   * Conflation: within each `windowMs`, subscribers get only the latest publication per
   * `key` (a dot path into the publication data, e.g. `formId` or `progress.formId`), all of
   * a window's survivors in one `pubs` frame. History keeps every publication. Off when absent.
   */
  conflation: z
    .strictObject({
      windowMs: z
        .number({ error: (issue) => `expected an integer from ${CONFLATION_WINDOW_MIN} to ${CONFLATION_WINDOW_MAX} (ms), got ${JSON.stringify(issue.input)}` })
        .int()
        .min(CONFLATION_WINDOW_MIN)
        .max(CONFLATION_WINDOW_MAX),
      key: z.string().regex(CONFLATION_KEY, {
        message: `expected a dot path into the publication data: 1 to ${CONFLATION_KEY_MAX_PARTS} names of [A-Za-z0-9_-] joined by '.' (e.g. "formId" or "progress.formId")`,
      }),
    })
    .optional()
    .describe(
      `conflation: {windowMs, key} — per window (${CONFLATION_WINDOW_MIN}–${CONFLATION_WINDOW_MAX} ms) only the latest publication per key (a dot path into the data) is delivered, in one frame; history keeps all (default off)`,
    ),
  /**
   * Delivery priorities (docs/protocol.md, "Priorities"): `default` for publications that name
   * none, `allowed` what a client's publish may name (the HTTP API and features may use any).
   */
  priorities: z
    .strictObject({
      default: z.enum(PUBLICATION_PRIORITIES).default('normal'),
      allowed: z.array(z.enum(PUBLICATION_PRIORITIES)).min(1).max(4).default(['normal']),
    })
    .refine((p) => p.allowed.includes(p.default), { message: 'priorities.default must be one of priorities.allowed', path: ['default'] })
    .optional()
    .describe(
      "priorities: {default, allowed} — a publication's delivery priority on congested connections (critical | high | normal | low); clients may name only `allowed` (default: normal only)",
    ),
  /** Largest publication payload accepted in this namespace, bytes (0 = the global message limit). */
  maxPublicationBytes: int(0, 0, 64 * 1024 * 1024, 'largest publication payload, bytes (0 = message limit)'),
  /**
   * JSON Schemas (draft 2020-12) that payloads in this namespace must match: publication
   * data (client and HTTP publishes), presence state, signal data. Compiled once at start.
   */
  schemas: z
    .strictObject({ publication: jsonSchema.optional(), presence: jsonSchema.optional(), signal: jsonSchema.optional() })
    .optional()
    .describe('JSON Schemas for publication data, presence state and signal data (draft 2020-12)'),
});
/** A namespace's options: the kernel's, and one per feature that declares a namespace option (`locks`, `comments`). */
export type NamespaceConfig = z.output<typeof namespaceSchema> & { readonly [featureOption: string]: unknown };
export type NamespaceInput = z.input<typeof namespaceSchema> & { [featureOption: string]: unknown };

/** Namespaces of the kernel; features add theirs (a name already here only with the same options). */
export const CORE_NAMESPACES: Readonly<Record<string, NamespaceInput>> = {
  project: {},
  chat: {},
  analytics: { clientPublish: false, presence: false },
  user: { subscribe: 'owner', clientPublish: false, presence: false },
  system: { subscribe: 'authenticated', clientPublish: false, presence: false, signals: false },
  // The console's demo workspace (docs/console.md): presence, signals, history; progress values
  // (publications with a `job`) conflated per 100 ms window, everything else delivered as is.
  demo: { conflation: { windowMs: 100, key: 'job' } },
};

/** A quota: a whole number in [min, max], or absent (the global limit, or none). */
const quota = (min: number, max: number, description: string) =>
  z
    .number({ error: (issue) => `expected an integer from ${min} to ${max}, got ${JSON.stringify(issue.input)}` })
    .int({ error: `expected an integer from ${min} to ${max}` })
    .min(min)
    .max(max)
    .optional()
    .describe(description);

/**
 * One tenant's quotas: each overrides the global limit for that tenant; an absent one means
 * the global limit (`limits.connectionsPerTenant`, `limits.maxPresenceMembers`) or, where
 * there is none, no limit. The HTTP API's stored quotas win over these, key by key.
 */
export const tenantQuotasSchema = z.strictObject({
  /** Concurrent connections of the tenant, over every node (default `limits.connectionsPerTenant`; 0 refuses every connection). */
  connections: quota(0, 10_000_000, 'concurrent connections of the tenant, over every node (default limits.connectionsPerTenant)'),
  /** Publishes per minute by the tenant's connections and API keys together, over every node (default: no limit). */
  publishesPerMinute: quota(1, 100_000_000, "publishes per minute by the tenant's connections and API calls, over every node (default none)"),
  /** Presence members (connections) per channel of the tenant (default `limits.maxPresenceMembers`). */
  presenceMembers: quota(1, 1_000_000, 'presence members per channel (default limits.maxPresenceMembers)'),
  /** Notification rows the tenant may keep stored (default: no limit). */
  notifications: quota(0, 1_000_000_000_000, 'notification rows stored (default none)'),
  /** Activity rows the tenant may keep stored (default: no limit). */
  activity: quota(0, 1_000_000_000_000, 'activity rows stored (default none)'),
});
export type TenantQuotasConfig = z.output<typeof tenantQuotasSchema>;
export type QuotaName = keyof TenantQuotasConfig;
export const QUOTA_NAMES = Object.keys(tenantQuotasSchema.shape) as readonly QuotaName[];

/** The kernel's options; feature sections and `namespaces` are added by `buildConfigSchema`. */
const coreShape = {
  /** TCP port of the HTTP API and the WebSocket endpoint. */
  port: int(7070, 0, 65535, 'TCP port for HTTP and WebSocket'),
  /** Address to listen on. */
  host: z.string().default('0.0.0.0').describe('address to listen on (default 0.0.0.0)'),
  /** PEM certificate file (the chain after it, as certbot's fullchain.pem): with `tlsKey`, the port serves HTTPS and WSS; re-read on SIGHUP. */
  tlsCert: z
    .string()
    .min(1)
    .optional()
    .describe('PEM certificate (chain) file: with tlsKey, the port serves HTTPS and WSS; re-read on SIGHUP (default none: plain HTTP)'),
  /** PEM private key file of `tlsCert`; an encrypted one needs `tlsPassphrase`. */
  tlsKey: z.string().min(1).optional().describe('PEM private key file of tlsCert (if encrypted, give tlsPassphrase); re-read on SIGHUP'),
  /** Passphrase of an encrypted `tlsKey`; prefer the variable or the config file to the flag, which `ps` shows. */
  tlsPassphrase: z.string().optional().describe('passphrase of an encrypted tlsKey (prefer SWITCHBOARD_TLS_PASSPHRASE or the config file: a flag shows in ps)'),
  /** Directory for the development secret, API keys and durable data. */
  dataDir: z.string().default('./data').describe('data directory (default ./data)'),
  /** Development mode: localhost Origins allowed, a development secret and admin key generated. */
  development: bool(true, 'development mode: generate a secret and admin key when none is configured; allow localhost Origins'),
  /** The web console served at `/console/` (admin view, demo workspace); see docs/console.md. */
  console: z
    .strictObject({
      /** Serve the console at `/console/` (default true); off: every `/console` path is 404. */
      enabled: bool(true, 'serve the web console at /console/'),
      /** The demo workspace at `/console/demo`, its token route `POST /api/v1/demo/token` and its metric generator (default: on in development mode only). */
      demo: z
        .preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean())
        .optional()
        .describe(
          "the demo workspace at /console/demo, its token route POST /api/v1/demo/token and its metric generator (tenant demo's demo.* series) (default: on in development mode only)",
        ),
    })
    .prefault({})
    .describe('web console'),
  /** Durable data: a PostgreSQL URL, or empty for a SQLite file (switchboard.db) in the data directory. */
  database: z.string().default('').describe('PostgreSQL URL; SQLite file in the data directory when empty (--database / DATABASE_URL)'),
  /** SQLite's page cache (MiB): the pages of the job, outbox and notification indexes a busy node reads over and over. */
  sqliteCacheMb: int(
    64,
    2,
    65_536,
    "SQLite's page cache in MiB (not used with PostgreSQL): a busy node rereads the same index pages; too small and every statement reads them from the file",
  ),
  /** Redis URL for the shared engine (--redis / REDIS_URL); the in-memory engine when unset. */
  redis: z
    .string()
    .regex(/^rediss?:\/\//, 'expected redis://… or rediss://…')
    .optional()
    .describe('Redis URL for the shared engine (--redis / REDIS_URL); in-memory engine when unset'),
  /** Sentinels that locate the Redis master (`host:port`, comma separated); `redis` then only gives credentials, TLS and db. */
  redisSentinels: z
    .string()
    .regex(HOST_PORTS, 'expected host:port[,host:port…]')
    .optional()
    .describe('Redis Sentinels host:port, comma separated: the shared engine finds the master through them (redis URL, if set, gives only credentials/TLS/db)'),
  /** Name of the master group the Sentinels monitor. */
  redisSentinelMaster: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,128}$/)
    .default('mymaster')
    .describe('master group name monitored by the Sentinels (default mymaster)'),
  /** Seed nodes of a Redis Cluster (`host:port`, comma separated); `redis` then only gives credentials and TLS. */
  redisCluster: z
    .string()
    .regex(HOST_PORTS, 'expected host:port[,host:port…]')
    .optional()
    .describe('Redis Cluster seed nodes host:port, comma separated: the shared engine runs on the cluster (redis URL, if set, gives only credentials/TLS)'),
  /** Prefix of every Redis key and topic, so several deployments can share one Redis. */
  redisPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .default('sb')
    .describe('prefix of Redis keys, so deployments can share one Redis (default sb)'),
  /**
   * Worker processes sharing the port (`auto`: one per CPU available to the process; default 1).
   * Without Redis they share one in-host engine in the primary process, exact as one node.
   */
  workers: z
    .string()
    .regex(/^(auto|[1-9][0-9]{0,2})$/, 'expected auto or a number of workers from 1 to 999')
    .default('1')
    .describe('worker processes sharing the port: a number or auto (one per available CPU); without Redis they share one in-host engine (default 1)'),
  /** Node id used in logs and metrics; random when empty. */
  nodeId: z.string().default('').describe('node id for logs and metrics (default random)'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('log level (default info)'),
  /** Browser Origins allowed to open WebSockets ("*" allows all; development mode adds localhost). */
  allowedOrigins: list('browser Origins allowed to connect, comma separated ("*" = any; default none, localhost in development)'),
  /**
   * permessage-deflate on WebSocket connections whose client offers it (browsers do; the SDK's
   * Node transport too): each publication is compressed once for all its subscribers.
   */
  compression: z
    .enum(['off', 'on'])
    .default('on')
    .describe('permessage-deflate for WebSocket clients that offer it, each publication compressed once for all subscribers: on or off (default on)'),
  /** Messages (a turn's frames for one connection, joined) shorter than this go uncompressed, bytes. */
  compressionThreshold: int(256, 0, 64 * 1024 * 1024, 'with compression on, messages shorter than this are sent uncompressed, bytes'),
  /** Channels compressed with context takeover at once per node (shared streams, up to 160 KB each); 0: every compressed message alone. */
  compressionStreams: int(
    256,
    0,
    1_000_000,
    'with compression on, the most channels a node compresses with context takeover at once (each holds at most 160 KB: its last 32 KB and recent messages); 0: every compressed message independent (server_no_context_takeover)',
  ),

  auth: z
    .strictObject({
      /** Shared secret for HMAC tokens (HS256/384/512). Generated in the data directory in development mode. */
      secret: z.string().min(32).optional().describe('HMAC secret for tokens, at least 32 characters'),
      /** PEM or JWK public keys for RSA / ECDSA / EdDSA tokens; each pinned to its algorithms, optionally to an issuer and tenant. */
      publicKeys: z
        .array(
          z.strictObject({
            kid: z.string().optional(),
            alg: z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']),
            pem: z.string(),
            issuer: z.string().optional(),
            tenant: z.string().optional(),
          }),
        )
        .default([])
        .describe('public keys (config file only)'),
      /** JWKS endpoints; a key is looked up by `kid` only in the JWKS of the token's configured issuer. */
      jwks: z
        .array(
          z.strictObject({
            url: z.url(),
            issuer: z.string(),
            tenant: z.string().optional(),
            algorithms: z.array(z.string()).default(['RS256', 'ES256', 'EdDSA']),
          }),
        )
        .default([])
        .describe('JWKS endpoints by issuer (config file only)'),
      audience: z.string().optional().describe('required `aud` claim, when set'),
      issuer: z.string().optional().describe('required `iss` claim for HMAC tokens, when set'),
      maxTokenLifetime: duration('24h', 'longest accepted token lifetime (exp - iat, or exp - now)'),
      clockSkew: duration('30s', 'clock tolerance for exp and nbf'),
      maxTokenBytes: int(8192, 256, 65536, 'largest accepted token, bytes'),
    })
    .prefault({})
    .describe('token verification'),

  /** API keys for the HTTP API, stored as SHA-256 hashes; `tenant: null` is an admin key, `readOnly: true` may only read. Also read from the data directory. */
  apiKeys: z
    .array(
      z.strictObject({
        id: z.string().min(1).max(64),
        hash: z.string().regex(/^[0-9a-f]{64}$/),
        tenant: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/)
          .nullable(),
        /** A read-only key may call only GET routes (default false). */
        readOnly: z.boolean().optional(),
      }),
    )
    .default([])
    .describe('API keys as {id, hash, tenant, readOnly?} (config file or JSON; `switchboard apikey` creates them; readOnly: GET routes only)'),

  limits: z
    .strictObject({
      maxMessageBytes: int(65536, 1024, 64 * 1024 * 1024, 'largest WebSocket message accepted, bytes'),
      maxChannelNameLength: int(255, 16, 1024, 'longest channel name, characters'),
      maxChannelsPerConnection: int(128, 1, 100_000, 'subscriptions per connection'),
      connectionsPerUser: int(32, 1, 1_000_000, 'concurrent connections per user'),
      connectionsPerTenant: int(100_000, 1, 10_000_000, 'concurrent connections per tenant'),
      newConnectionsPerIpPerSecond: int(50, 1, 1_000_000, 'new WebSocket connections per IP address per second (burst = 2x)'),
      commandsPerSecond: int(200, 1, 1_000_000, 'commands per connection per second (burst = 2x); far beyond it the connection is closed'),
      publishPerSecondPerConnection: int(50, 1, 1_000_000, 'publishes per connection per second (burst = 2x)'),
      eventsPerMinutePerUser: int(3000, 1, 100_000_000, 'publishes, signals and presence updates per user per minute, over all connections and nodes'),
      eventsBurstPerUser: int(0, 0, 100_000_000, 'events a user may send at once above the per-minute rate (0 = a sixth of it)'),
      signalsPerSecond: int(30, 1, 100_000, 'signals per connection per second (burst = 2x)'),
      maxPresenceMembers: int(1000, 1, 1_000_000, 'presence entries (connections) per channel'),
      maxPresenceStateBytes: int(1024, 0, 65536, 'largest presence state, bytes'),
      maxInfoBytes: int(
        1024,
        0,
        65536,
        'largest token `info` (shown in presence and publisher info), bytes of JSON; a larger one is refused at connect and refresh',
      ),
      maxSignalBytes: int(2048, 0, 65536, 'largest signal payload, bytes'),
      historyPageSize: int(100, 1, 10_000, 'largest history page'),
      maxIdleStreams: int(100_000, 100, 100_000_000, 'channel streams kept that never had a publication and have no subscriber (oldest forgotten first)'),
      maxRecovery: int(1000, 1, 100_000, 'most publications recovered on resubscribe (beyond: recovered false)'),
      maxJsonDepth: int(32, 2, 1000, 'deepest nesting accepted in a frame'),
      maxTags: int(16, 0, 256, 'tags per publication'),
      maxTagLength: int(64, 1, 1024, 'longest tag name or value, characters'),
      maxFilterBytes: int(2048, 64, 65536, 'largest subscription filter, bytes of JSON'),
      maxFilterDepth: int(4, 1, 16, 'deepest nesting of and / or / not in a subscription filter'),
      maxFilterLeaves: int(32, 1, 1024, 'most tag values a subscription filter compares'),
      httpBodyBytes: int(1_048_576, 1024, 64 * 1024 * 1024, 'largest HTTP request body, bytes'),
      httpBatchSize: int(100, 1, 10_000, 'largest HTTP batch (publications or channels)'),
      queueSignalDropBytes: int(262_144, 1024, 1 << 30, 'bytes buffered for a connection above which signals are dropped'),
      queueMaxBytes: int(4_194_304, 4096, 1 << 30, 'bytes buffered for a connection above which it is closed as a slow consumer'),
      maxScheduleAhead: duration('30d', 'latest publishAt a scheduled publication may have, from now'),
      maxScheduledPerTenant: int(10_000, 1, 100_000_000, 'scheduled publications a tenant may have pending at once'),
    })
    .prefault({})
    .describe('limits'),

  /** Per-tenant settings, by tenant id: `{ "acme": { "quotas": { "connections": 500 } } }`. */
  tenants: z
    .record(
      z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a tenant id (A-Z a-z 0-9 _ -, 1 to 64 characters)'),
      z.strictObject({ quotas: tenantQuotasSchema.prefault({}) }),
    )
    .default({})
    .describe('per-tenant quotas, overriding limits.* for one tenant (config file or JSON in SWITCHBOARD_TENANTS; see docs/operations.md)'),

  timeouts: z
    .strictObject({
      handshake: duration('10s', 'deadline for the connect command after the upgrade'),
      ping: duration('25s', 'interval between server pings'),
      pong: duration('10s', 'deadline for the pong after a ping; a silent connection leaves presence after ping + pong'),
      idle: duration('5m', 'without client activity a presence member becomes idle'),
      idempotency: duration('5m', 'window in which a repeated idempotency key is deduplicated'),
      shutdown: duration('10s', 'longest graceful shutdown before exit'),
      httpRequest: duration('30s', 'HTTP request timeout'),
      httpHeaders: duration('10s', 'HTTP header timeout; with TLS also the TLS handshake timeout'),
      presenceTtl: duration(
        '15s',
        'redis engine, and the workers of --workers N: a node (worker) that stops refreshing (crashed, hung or cut off) loses its presence members and connection slots after this',
      ),
      positionCheck: duration(
        '30s',
        "redis engine: each node compares its subscribed channels' stream positions with Redis this often, a safety net for losses no publication reveals (0 = never; meta is still kept alive every minute)",
      ),
    })
    .prefault({})
    .describe('timeouts'),

  jobs: z
    .strictObject({
      pollInterval: duration('500ms', 'how often each node looks for due jobs (a job added on a node and due sooner wakes that node)'),
      lease: duration('30s', "a claimed job's lease, renewed every third of it while it runs; a crashed node's jobs are taken over once it ends"),
      concurrency: int(64, 1, 10_000, 'jobs a node runs at once'),
      maxAttempts: int(10, 1, 1000, 'attempts before a job is failed'),
      backoff: duration('1s', 'wait before the second attempt; doubled for each further one, ±20% jitter'),
      maxBackoff: duration('10m', 'longest wait between attempts'),
      keepFinished: duration('7d', 'finished jobs (done, failed, cancelled) are deleted after this'),
    })
    .prefault({})
    .describe('job runner (scheduled publications, features)'),
};

const namespaceName = z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/);

/** One feature's options, merged into the config schema under `key`, and the namespaces it needs by default. */
export interface ConfigSection {
  key: string;
  /** A strict object schema; every field with a default, so the section may be left out. */
  schema?: z.ZodObject;
  /** One line for `serve --help` and the docs. */
  description?: string;
  namespaces?: Readonly<Record<string, NamespaceInput>>;
  /** The feature's option of every namespace, at `namespaces.<ns>.<key>`: a schema with a default. */
  namespaceOption?: { schema: z.ZodType; description: string };
}

/** Top-level keys of the kernel's options: a feature section may not take one. */
export const CORE_CONFIG_KEYS: readonly string[] = [...Object.keys(coreShape), 'namespaces'];

function schemaWith(sections: readonly ConfigSection[]) {
  // Declarations of one namespace by several features merge: each sets its own options.
  const namespaces: Record<string, NamespaceInput> = { ...CORE_NAMESPACES };
  for (const s of sections) for (const [name, options] of Object.entries(s.namespaces ?? {})) namespaces[name] = { ...namespaces[name], ...options };
  // Typed as the kernel's options: the features' are `unknown` in NamespaceConfig and read by their features.
  const featureOptions = Object.fromEntries(
    sections.flatMap((s) => (s.namespaceOption ? [[s.key, s.namespaceOption.schema.describe(s.namespaceOption.description)]] : [])),
  ) as Record<never, z.ZodType>;
  const namespaceOptions = namespaceSchema.extend(featureOptions);
  const featureShape = Object.fromEntries(sections.flatMap((s) => (s.schema ? [[s.key, s.schema.prefault({}).describe(s.description ?? s.key)]] : [])));
  return z
    .strictObject({
      ...coreShape,
      ...featureShape,
      /** Channel namespaces and their options; a channel in an undeclared namespace is refused. */
      namespaces: z
        .record(namespaceName, namespaceOptions.prefault({}))
        .prefault(namespaces as never)
        .describe('channel namespaces (config file or JSON in SWITCHBOARD_NAMESPACES)'),
    })
    .refine((c) => !(c.redisSentinels && c.redisCluster), {
      message: 'give redisSentinels or redisCluster, not both',
      path: ['redisCluster'],
    })
    .refine((c) => c.tlsKey !== undefined || c.tlsCert === undefined, { message: 'tlsCert is set without tlsKey: give both or neither', path: ['tlsKey'] })
    .refine((c) => c.tlsCert !== undefined || c.tlsKey === undefined, { message: 'tlsKey is set without tlsCert: give both or neither', path: ['tlsCert'] })
    .refine((c) => c.tlsKey !== undefined || c.tlsPassphrase === undefined, { message: 'tlsPassphrase is set without tlsKey', path: ['tlsPassphrase'] })
    .superRefine((c, ctx) => {
      // A delta needs the publication at offset - 1, which conflation may never send.
      for (const [name, ns] of Object.entries(c.namespaces)) {
        if (ns.conflation && ns.delta)
          ctx.addIssue({ code: 'custom', message: 'conflation and delta cannot both be on in a namespace', path: ['namespaces', name, 'conflation'] });
      }
    });
}

const coreSchema = schemaWith([]);

/** The kernel's options; every feature section is `unknown` here and typed by its feature. */
export type Config = z.output<typeof coreSchema> & { readonly [section: string]: unknown };
export type ConfigInput = z.input<typeof coreSchema> & { [section: string]: unknown };
export type ConfigSchema = z.ZodType<Config, ConfigInput>;

/**
 * The one config schema: the kernel's options plus one section per feature, under its own
 * key, and the default namespaces of the kernel and of every feature (a feature's defaults
 * are checked against the others' by the feature host before they get here).
 */
export function buildConfigSchema(sections: readonly ConfigSection[]): ConfigSchema {
  return schemaWith(sections) as unknown as ConfigSchema;
}
