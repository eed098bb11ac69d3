export type {
  Filter,
  MetricFrame,
  MetricSchemaSeries,
  MetricStat,
  MetricSubscribeParams,
  MetricSubscribeResult,
  PresenceDevice,
  PresenceMember,
  PresenceStatsResult,
  PresenceStatus,
  Publication,
  PublisherInfo,
  PublishResult,
  StreamPosition,
  Tags,
} from '@switchboard/protocol';
// The wire contract, from its single source.
export { DisconnectCode, ErrorCode, shouldReconnect } from '@switchboard/protocol';
export type { BackoffOptions } from './backoff.js';
export { SwitchboardClient } from './client.js';
// Feature modules live in their own entry points (`@switchboard/client/notifications`,
// `@switchboard/client/activity`), so an app that uses neither does not ship them.
export type { ClientMetrics } from './client-metrics.js';
export { ClientCode, type ClientCodeInfo, type ClientCodeName, type StateReason } from './codes.js';
export type { EventSource, Listener } from './emitter.js';
export { SwitchboardError } from './errors.js';
export type {
  ClientErrorEvent,
  ClientEvents,
  ClientState,
  ClientStateEvent,
  ConnectedEvent,
  OfflineQueueEvent,
  PresenceEvent,
  PublicationEvent,
  ReconnectingEvent,
  Session,
  SignalEvent,
  SubscribedEvent,
  SubscriptionErrorEvent,
  SubscriptionEvents,
  SubscriptionReasonEvent,
  SubscriptionState,
  SubscriptionStateEvent,
} from './events.js';
export type { ClientModule, FeatureHost, FeatureHostEvents } from './feature-module.js';
export type { PointOptions } from './metric-push.js';
export type {
  MetricColumns,
  MetricFrameEvent,
  MetricSeriesColumns,
  MetricSubscription,
  MetricSubscriptionEvents,
  MetricSubscriptionState,
} from './metric-subscriptions.js';
export type { ClientOptions, FetchLike, TransportName } from './options.js';
export type { HistoryOptions, HistoryPage, PublishOptions, SubscribeOptions, Subscription } from './subscription.js';
export type { Timers } from './timers.js';
export type {
  SocketCloseEvent,
  SocketEvent,
  SocketMessageEvent,
  WebSocketConstructor,
  WebSocketLike,
} from './websocket.js';
