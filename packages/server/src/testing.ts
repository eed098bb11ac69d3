/**
 * `@switchboard/server/testing`: the parts below the public API that conformance and
 * end-to-end suites drive directly — the Redis engine's pieces (to run an engine without a
 * node, or one piece against a Redis Cluster or Sentinel), storage and its migrations, and
 * the HTTP API's route table and OpenAPI builder. An embedding app's own tests may use it
 * too; it is not the application API and may change between minor versions.
 */

export { createStoredApiKey, revokeStoredApiKey } from './auth/key-files.js';
export { PayloadSchemas } from './core/payload-schemas.js';
export type { BrokerHandler, StreamPublication } from './engine/broker.js';
export { RedisConnection, type RedisConnectionOptions } from './engine/redis/connection.js';
export { RedisKeys } from './engine/redis/keys.js';
export { NodeRegistry } from './engine/redis/node-registry.js';
export { RedisBroker } from './engine/redis/redis-broker.js';
export { RedisControlBus } from './engine/redis/redis-control-bus.js';
export { usesRedis } from './engine/redis/redis-engine.js';
export { RedisLimitStore } from './engine/redis/redis-limit-store.js';
export { RedisNodeMessages } from './engine/redis/redis-node-messages.js';
export { RedisPresenceStore } from './engine/redis/redis-presence.js';
export { parseAddresses, type RedisAddress } from './engine/redis/topology.js';
export {
  backendHookSchemas,
  HOOK_KINDS as BACKEND_HOOK_KINDS,
  hookRequests as backendHookRequests,
  hookResponses as backendHookResponses,
} from './features/backend-hooks/wire.js';
export { builtinMigrations, listOptions } from './features/builtin.js';
export { mergeInChunks } from './features/documents/snapshot.js';
export { DocumentStore } from './features/documents/store.js';
export { applyChecked } from './features/documents/update-check.js';
export { AlertStore } from './features/metrics/alert-store.js';
export { HTTP_STATUS } from './http/api/errors.js';
export { apiRoutes } from './http/api/index.js';
export { type OpenApiDocument, openApiDocument } from './http/api/openapi.js';
export { isTransient } from './storage/failures.js';
export { migrateToLatest } from './storage/migrate.js';
export { Storage } from './storage/storage.js';
export { YoungTableStats } from './storage/young-table-stats.js';
