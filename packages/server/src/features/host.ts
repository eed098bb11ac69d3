import {
  buildConfigSchema,
  CORE_CONFIG_KEYS,
  CORE_NAMESPACES,
  type Config,
  type ConfigSchema,
  type ConfigSection,
  type NamespaceInput,
  namespaceSchema,
} from '../config/schema.js';
import type { NodeContext } from '../core/context.js';
import type { Endpoint } from '../core/endpoint.js';
import { createError, type FeatureErrorCode, SB_ERRORS, SwitchboardError } from '../errors/sb-error.js';
import type { ApiRoute } from '../http/api/route.js';
import type { JobRunner } from '../storage/job-runner.js';
import { migrationList } from '../storage/migrate.js';
import type { NamedMigration } from '../storage/migration.js';
import type { Storage } from '../storage/storage.js';
import { EventCatalogue } from './events.js';
import type { FeatureContext, FeatureModule } from './manifest.js';
import { featureLeases, featureMessages, featureRates, featureSurveys } from './scoped-engine.js';
import { featureJobs } from './scoped-jobs.js';
import { scopedNode } from './scoped-node.js';

/** RFC 6455 §7.4.1: the service is not ready; the client should try again later. */
const TRY_AGAIN_LATER = 1013;
const ERROR_CODE = /^SB_ERR_[A-Z0-9_]+$/;

const conflict = (detail: string) => createError('SB_ERR_FEATURE_MANIFEST', detail);
/** Options two declarations of one namespace both set, to different values (they merge otherwise). */
const clashes = (a: NamespaceInput, b: NamespaceInput) => Object.keys(b).filter((k) => Object.hasOwn(a, k) && JSON.stringify(a[k]) !== JSON.stringify(b[k]));

/**
 * The features of one server, from their manifests: the config sections and default
 * namespaces they add, their migrations and routes, and their lifecycle (start in
 * registration order with a context each, stop in reverse). Commands and hooks are the
 * node's (core/modules.ts); everything here is checked before anything starts.
 */
export class FeatureHost {
  readonly #features: readonly FeatureModule[];
  readonly #services = new Map<string, unknown>();
  readonly #started: FeatureModule[] = [];
  /** Every feature's event types (checked here: names, duplicates, examples). */
  readonly events: EventCatalogue;

  constructor(features: readonly FeatureModule[]) {
    this.#features = features;
    this.#checkConfig();
    this.#checkErrors();
    this.events = new EventCatalogue(features);
  }

  get features(): readonly FeatureModule[] {
    return this.#features;
  }

  #checkConfig(): void {
    const keys = new Set(CORE_CONFIG_KEYS);
    const namespaces = new Map<string, { by: string; options: NamespaceInput }>(
      Object.entries(CORE_NAMESPACES).map(([n, o]) => [n, { by: 'the kernel', options: o }]),
    );
    for (const f of this.#features) {
      if (f.config) {
        if (keys.has(f.name)) throw conflict(`feature "${f.name}": its config section would take the option "${f.name}", which exists`);
        keys.add(f.name);
      }
      if (f.namespaceOption && Object.hasOwn(namespaceSchema.shape, f.name))
        throw conflict(`feature "${f.name}": its namespace option would take the namespace option "${f.name}", which exists`);
      for (const [name, options] of Object.entries(f.namespaces ?? {})) {
        const other = namespaces.get(name);
        const clash = other ? clashes(other.options, options) : [];
        if (other && clash.length > 0) throw conflict(`feature "${f.name}": namespace "${name}" is declared by ${other.by} with another ${clash.join(', ')}`);
        namespaces.set(name, { by: other ? `${other.by} and feature "${f.name}"` : `feature "${f.name}"`, options: { ...other?.options, ...options } });
      }
    }
  }

  #checkErrors(): void {
    const codes = new Set<string>(Object.keys(SB_ERRORS));
    for (const f of this.#features) {
      for (const code of Object.keys(f.errors ?? {})) {
        if (!ERROR_CODE.test(code)) throw conflict(`feature "${f.name}": error code "${code}" is not SB_ERR_[A-Z0-9_]+`);
        if (codes.has(code)) throw conflict(`feature "${f.name}": error code "${code}" exists`);
        codes.add(code);
      }
    }
  }

  /** The config sections and default namespaces of the features, in registration order. */
  configSections(): ConfigSection[] {
    return this.#features.map((f) => ({
      key: f.name,
      ...(f.config ? { schema: f.config.schema, description: f.config.description } : {}),
      ...(f.namespaces ? { namespaces: f.namespaces } : {}),
      ...(f.namespaceOption ? { namespaceOption: f.namespaceOption } : {}),
    }));
  }

  /** The one config schema: the kernel's options plus every feature's section and namespaces. */
  configSchema(): ConfigSchema {
    return buildConfigSchema(this.configSections());
  }

  /** Shared migrations, then each feature's in registration order. */
  migrations(): NamedMigration[] {
    return migrationList(this.#features.flatMap((f) => f.migrations ?? []));
  }

  /** The features' HTTP routes for a configuration (their sections may size the schemas). */
  routes(config: Config): ApiRoute[] {
    return this.#features.flatMap((f) => f.routes?.(config[f.name]) ?? []);
  }

  /** The upgrade-request headers the features read (lower-case, each once), kept with each connection. */
  connectionHeaders(config: Config): string[] {
    return [...new Set(this.#features.flatMap((f) => f.connectionHeaders?.(config[f.name]) ?? []).map((h) => h.toLowerCase()))];
  }

  /** The features' WebSocket endpoints, each handed its feature's service once that started. */
  endpoints(config: Config): Endpoint[] {
    return this.#features.flatMap((f) =>
      (f.endpoints?.(config[f.name]) ?? []).map(
        (e): Endpoint => ({
          ...e,
          open: (connection, request) => {
            if (!this.#services.has(f.name)) {
              connection.close(TRY_AGAIN_LATER, 'starting');
              return { message() {} };
            }
            return e.open(connection, request, this.#services.get(f.name));
          },
        }),
      ),
    );
  }

  /** Start every feature in registration order; if one fails, those started are stopped again. */
  async start(node: NodeContext, storage: Storage, jobs: JobRunner): Promise<void> {
    for (const f of this.#features) {
      try {
        const service = await f.start?.(this.#context(f, node, storage, jobs));
        this.#services.set(f.name, service);
        this.#started.push(f);
      } catch (err) {
        await this.stop().catch((stopErr) => node.logger.warn({ err: stopErr }, 'stopping features after a failed start failed'));
        throw err;
      }
    }
  }

  /** Stop the started features, last first. */
  async stop(): Promise<void> {
    while (this.#started.length > 0) {
      const f = this.#started.pop() as FeatureModule;
      this.#services.delete(f.name);
      await f.stop?.();
    }
  }

  /** The service a started feature provides, for the embedding app (which may use any). */
  service<T>(name: string): T {
    if (!this.#services.has(name)) throw createError('SB_ERR_FEATURE_SERVICE', `feature "${name}" is not running`);
    const service = this.#services.get(name);
    if (service === undefined) throw createError('SB_ERR_FEATURE_SERVICE', `feature "${name}" provides no service`);
    return service as T;
  }

  #context(f: FeatureModule, node: NodeContext, storage: Storage, jobs: JobRunner): FeatureContext {
    const logger = node.logger.child({ feature: f.name });
    const messages = featureMessages(f.name, node.messages, logger);
    const leases = featureLeases(f.name, node.leases);
    const feature = <T>(name: string): T => {
      if (!(f.dependsOn ?? []).includes(name))
        throw createError('SB_ERR_FEATURE_SERVICE', `feature "${f.name}" looked up "${name}", which is not in its dependsOn`);
      return this.service<T>(name);
    };
    return {
      name: f.name,
      config: node.config[f.name],
      node: scopedNode(node, {
        logger,
        messages,
        leases,
        rates: featureRates(f.name, node.rates),
        surveys: featureSurveys(f.name, node.surveys, logger),
        storage,
        feature,
      }),
      storage,
      logger,
      messages,
      leases,
      jobs: featureJobs(f.name, jobs, () => node.now()),
      events: this.events.scoped(f.name, () => node.now()),
      feature,
      error: (code: FeatureErrorCode, detail?: string): SwitchboardError => {
        const meaning = f.errors?.[code];
        if (meaning === undefined) throw conflict(`feature "${f.name}" has no error code "${code}" in its manifest`);
        return new SwitchboardError(code, detail ?? meaning);
      },
    };
  }
}
