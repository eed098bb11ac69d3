export { SwitchboardClient } from './client.js';
// Feature modules live in their own entry points (`@switchboard/client/notifications`,
// `@switchboard/client/activity`), so an app that uses neither does not ship them.
export type { ClientModule, FeatureHost, FeatureHostEvents } from './feature-module.js';
export type { Subscription, HistoryOptions, HistoryPage } from './subscription.js';
export { SwitchboardError } from './errors.js';
export { ClientCode, type ClientCodeInfo, type ClientCodeName, type StateReason } from './codes.js';
export type { ClientOptions, FetchLike } from './options.js';
export type { BackoffOptions } from './backoff.js';
export type { Timers } from './timers.js';
export type { EventSource, Listener } from './emitter.js';
export type {
  WebSocketConstructor,
  WebSocketLike,
  SocketCloseEvent,
  SocketEvent,
  SocketMessageEvent,
} from './websocket.js';
export type {
  ClientErrorEvent,
  ClientEvents,
  ClientState,
  ClientStateEvent,
  ConnectedEvent,
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
// The wire contract, from its single source.
export { DisconnectCode, ErrorCode, shouldReconnect } from '@switchboard/protocol';
export type {
  PresenceDevice,
  PresenceMember,
  PresenceStatsResult,
  PresenceStatus,
  Publication,
  PublisherInfo,
  PublishResult,
  StreamPosition,
} from '@switchboard/protocol';
