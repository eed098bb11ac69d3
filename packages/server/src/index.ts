export { mintToken, type TokenClaims } from './auth/mint.js';
export type { Identity } from './auth/token-verifier.js';
export { bool, duration, int, stringList } from './config/fields.js';
export { buildConfigSchema, type Config, type ConfigInput, type NamespaceConfig, type NamespaceInput, namespaceSchema } from './config/schema.js';
export type { ResolvedChannel } from './core/channels.js';
export { type CommandContext, type CommandDefinition, defineCommand } from './core/command.js';
export type { ConnectionMeta } from './core/connection.js';
export type {
  HistoryRequest,
  LeaseStoreView,
  LocalSession,
  NodeContext,
  NodeMessagesView,
  PresenceClient,
  PublishRequest,
  SessionContext,
} from './core/context.js';
export type { Endpoint, EndpointConnection, EndpointRequest, EndpointSession } from './core/endpoint.js';
export type { HookName, HookPayloads, Hooks } from './core/modules.js';
export type { Broker, BrokerHandler, ChannelEvent, HistoryPage, HistoryQuery, PublishOptions, PublishOutcome, StreamPublication } from './engine/broker.js';
export type { ControlBus, ControlCommand } from './engine/control-bus.js';
export type { Engine } from './engine/engine.js';
export type { Lease, LeaseStore } from './engine/lease-store.js';
export type { LimitStore } from './engine/limit-store.js';
export { createMemoryEngine } from './engine/memory-engine.js';
export type { NodeDownHandler, NodeMessages, NotificationHandler } from './engine/node-messages.js';
export type { PresenceEntry, PresenceStore } from './engine/presence-store.js';
export { createRedisEngine, redisEngineOptions } from './engine/redis/redis-engine.js';
export { ReplyError } from './errors/reply-error.js';
export { createError, type FeatureErrorCode, SB_ERRORS, type SbErrorCode, SwitchboardError } from './errors/sb-error.js';
export { builtinFeatures, configFor, configSchema, parseConfig } from './features/builtin.js';
export type {
  AuthorizeDocumentEvent,
  BroadcastEvent,
  DocumentChangeEvent,
  DocumentsService,
  LoadDocumentEvent,
  StoreDocumentEvent,
} from './features/documents/hooks.js';
export { defineEventType, type EventSink, type EventType, type FeatureEvents, type OutgoingEvent } from './features/events.js';
export { defineFeature, type FeatureConfig, type FeatureContext, type FeatureEndpoint, type FeatureModule } from './features/manifest.js';
export type { BeforeFieldWrite, FieldWrite, RecordsApi, RecordWriteRequest } from './features/records/index.js';
export type { FeatureLeases, FeatureMessages } from './features/scoped-engine.js';
export { type ApiRoute, defineRoute, type RouteContext } from './http/api/route.js';
export { loadConfig, Switchboard, type SwitchboardOptions, type TlsCertificateInfo } from './server.js';
export type { NamedMigration } from './storage/migration.js';
export type { Storage } from './storage/storage.js';
