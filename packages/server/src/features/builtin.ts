import { configApi } from '../config/load.js';
import type { NamedMigration } from '../storage/migration.js';
import { activityFeature } from './activity/index.js';
import { auditFeature } from './audit/index.js';
import { backendHooksFeature } from './backend-hooks/index.js';
import { commentsFeature } from './comments/index.js';
import { documentsFeature } from './documents/index.js';
import { FeatureHost } from './host.js';
import { locksFeature } from './locks/index.js';
import type { FeatureModule } from './manifest.js';
import { metricsFeature } from './metrics/index.js';
import { notificationsFeature } from './notifications/index.js';
import { recordsFeature } from './records/index.js';
import { webhooksFeature } from './webhooks/index.js';

/** The built-in features, in registration order: adding one is one line here. */
export function builtinFeatures(): FeatureModule[] {
  return [
    notificationsFeature(),
    activityFeature(),
    commentsFeature(),
    backendHooksFeature(),
    locksFeature(),
    documentsFeature(),
    recordsFeature(),
    webhooksFeature(),
    auditFeature(),
    metricsFeature(),
  ];
}

/**
 * The config functions (schema, options with flags and variables, parse, load) for a set of
 * features: the kernel's options plus each feature's section and namespaces.
 */
export function configFor(features: readonly FeatureModule[]) {
  return configApi(new FeatureHost(features).configSchema());
}

/**
 * The config functions with the built-in features' sections: what `switchboard serve` and
 * `migrate` parse, and what `serve --help` and the README's options table list.
 */
export const { schema: configSchema, listOptions, parseConfig, loadConfig, fromEnv, fromFlags } = configFor(builtinFeatures());

/** The shared migrations and the built-in features', in the order they apply (what `switchboard migrate` runs). */
export function builtinMigrations(): NamedMigration[] {
  return new FeatureHost(builtinFeatures()).migrations();
}
