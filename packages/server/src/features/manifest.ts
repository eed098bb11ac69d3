import type { Logger } from 'pino';
import type { z } from 'zod';
import type { NamespaceInput } from '../config/schema.js';
import type { CommandDefinition } from '../core/command.js';
import type { NodeContext } from '../core/context.js';
import type { Endpoint, EndpointConnection, EndpointRequest, EndpointSession } from '../core/endpoint.js';
import type { Hooks } from '../core/modules.js';
import type { FeatureErrorCode, SwitchboardError } from '../errors/sb-error.js';
import type { ApiRoute } from '../http/api/route.js';
import type { NamedMigration } from '../storage/migration.js';
import type { Storage } from '../storage/storage.js';
import type { EventType, FeatureEvents } from './events.js';
import type { FeatureLeases, FeatureMessages } from './scoped-engine.js';
import type { FeatureJobs } from './scoped-jobs.js';

/** What a running feature gets: its own config section, the node's context, storage, a logger, its dependencies' services. */
export interface FeatureContext<Cfg = unknown> {
  readonly name: string;
  /** This feature's config section, validated and frozen (`config[name]`). */
  readonly config: Cfg;
  /** The node's channel operations, limits and clock, scoped to this feature like the fields below. */
  readonly node: NodeContext;
  /** Durable data; `storage.tables<MyTables>()` types the query layer with the feature's tables. */
  readonly storage: Storage;
  /** The node's logger, with `feature: name` on every line. */
  readonly logger: Logger;
  /**
   * Messages to this feature on other nodes (or one node), and node departures.
   * @example ctx.messages.onNotification('release', (data, from) => …); await ctx.messages.notify('release', { key });
   */
  readonly messages: FeatureMessages;
  /**
   * Leases with fencing tokens, cluster-wide on the Redis engine.
   * @example const token = await ctx.leases.acquire(`compact:${doc}`, 10_000, ctx.messages.nodeId);
   */
  readonly leases: FeatureLeases;
  /**
   * Durable jobs run at their due time by one node of the cluster, retried with backoff
   * (storage/job-runner.ts); kinds are scoped to the feature.
   * @example ctx.jobs.handle('remind', async (job) => remind(job.payload)); await ctx.jobs.add({ kind: 'remind', payload, dueAt });
   */
  readonly jobs: FeatureJobs;
  /**
   * The event catalogue: emit the event types this feature declares in `events` (webhooks
   * deliver them). With `trx`, the event is stored in the transaction of the change it reports.
   * @example await ctx.events.emit('widget.created', tenant, { id }, { trx });
   */
  readonly events: FeatureEvents;
  /**
   * The service a dependency provides (what its `start` returned). Only names listed in
   * `dependsOn` may be looked up: anything else is SB_ERR_FEATURE_SERVICE.
   * @example const locks = ctx.feature<LocksApi>('locks');
   */
  feature<T>(name: string): T;
  /** A SwitchboardError with one of the codes this feature declares in `errors`. */
  error(code: FeatureErrorCode, detail?: string): SwitchboardError;
}

/** A feature's options: a strict zod object, every field with a default, merged at `config[name]`. */
export interface FeatureConfig<Cfg> {
  schema: z.ZodObject & z.ZodType<Cfg>;
  /** One line for `serve --help` and the options table. */
  description: string;
}

/**
 * One feature, declared in one manifest in its own folder. Adding it to a server is one
 * line (the built-in list in features/builtin.ts, or `Switchboard.create({ features })`);
 * it never edits transport, engine, config or storage code.
 *
 * Lifecycle: the config section and default namespaces join the config schema; migrations
 * run after the shared ones, in registration order, before anything starts; commands and
 * hooks are registered with the node (unknown hook names and missing dependencies are
 * refused); routes join the HTTP API and its OpenAPI document; then `start` runs, in
 * registration order, and what it returns is the service dependents get from
 * `ctx.feature(name)`. `stop` runs in reverse order.
 */
export interface FeatureModule<Cfg = unknown, Service = unknown> {
  name: string;
  /** Features that must be registered before this one; the only services it may look up. */
  dependsOn?: readonly string[];
  config?: FeatureConfig<Cfg>;
  /**
   * Namespaces this feature needs, added to the defaults. A namespace declared elsewhere too
   * gets both declarations' options (an option both set must have the same value): how a
   * feature turns its own namespace option on in a default namespace (`project: { locks: true }`).
   */
  namespaces?: Readonly<Record<string, NamespaceInput>>;
  /**
   * The feature's option of every namespace, at `namespaces.<ns>.<feature name>`, validated by
   * `schema` (which gives the default, usually off). Read it from a resolved channel:
   * `ch.options['locks']`, typed by parsing or narrowing it in the feature.
   * @example namespaceOption: { schema: bool(false, 'clients may take locks'), description: 'locks on keys of a channel' }
   */
  namespaceOption?: { schema: z.ZodType; description: string };
  /** Its schema steps, in order; names start with the feature's name (see storage/migration.ts). */
  migrations?: readonly NamedMigration[];
  /** Its programmer/operator error codes and what they mean (`SB_ERR_<NAME>_…`). */
  errors?: Readonly<Record<FeatureErrorCode, string>>;
  commands?: readonly CommandDefinition[];
  /** The event types it emits (webhooks deliver them), declared in its own folder with `defineEventType`. */
  events?: readonly EventType[];
  /** Its HTTP routes under /api/v1, made with `defineRoute`: validated and in the OpenAPI document. */
  routes?(config: Cfg): readonly ApiRoute[];
  hooks?: Hooks;
  /**
   * Headers of the WebSocket upgrade request this feature reads from `client.meta.headers`
   * (names, any case). Only the headers some feature names are kept with a connection.
   */
  connectionHeaders?(config: Cfg): readonly string[];
  /**
   * WebSocket paths of its own (another protocol, binary frames), behind the transport's
   * Origin, rate, size, handshake-deadline and draining checks. Their connections are handed
   * to `open` with the feature's running service; until it started they are closed with 1013.
   */
  endpoints?(config: Cfg): readonly FeatureEndpoint<Service>[];
  // biome-ignore lint/suspicious/noConfusingVoidType: a feature without a service returns nothing from start
  start?(ctx: FeatureContext<Cfg>): Service | void | Promise<Service | void>;
  stop?(): void | Promise<void>;
}

/** A feature's WebSocket endpoint: an Endpoint whose `open` also gets the feature's service. */
export interface FeatureEndpoint<Service = unknown> extends Omit<Endpoint, 'open'> {
  open(connection: EndpointConnection, request: EndpointRequest, service: Service): EndpointSession;
}

/** Define a feature with its config and service types inferred. */
export function defineFeature<Cfg = unknown, Service = unknown>(feature: FeatureModule<Cfg, Service>): FeatureModule<Cfg, Service> {
  return feature;
}
