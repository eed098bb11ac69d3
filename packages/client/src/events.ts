import type { PresenceDevice, Publication, PublisherInfo } from '@switchboard/protocol';
import type { StateReason } from './codes.js';
import type { SwitchboardError } from './errors.js';
import type { Subscription } from './subscription.js';

export type ClientState = 'disconnected' | 'connecting' | 'connected';

/** Who this connection is, from the server's `connect` reply. */
export interface Session {
  readonly client: string;
  readonly user: string;
  readonly tenant: string;
  readonly node: string;
  /** Token expiry, Unix ms; absent when the token does not expire. */
  readonly expires?: number;
}

/** Emitted on every client state transition. */
export interface ClientStateEvent extends StateReason {
  readonly state: ClientState;
  readonly previous: ClientState;
}
export interface ConnectedEvent extends StateReason, Session {}
/** A reconnect is scheduled: "reconnecting in `delay` ms". */
export interface ReconnectingEvent extends StateReason {
  /** Milliseconds until the next attempt. */
  readonly delay: number;
  /** 1 for the first retry after a successful connect, then 2, 3, … */
  readonly attempt: number;
}
/** The count of publishes waiting in the offline queue changed (`client.offlineQueueSize`). */
export interface OfflineQueueEvent {
  readonly size: number;
}
export interface ClientErrorEvent {
  readonly error: SwitchboardError;
  /**
   * What the client was doing: getting a token, connecting, refreshing, reading the
   * transport — or `subscribe`: the server refused a server-side subscription to `channel`.
   */
  readonly during: 'token' | 'connect' | 'refresh' | 'transport' | 'status' | 'subscribe';
  /** With `during: 'subscribe'`: the channel. */
  readonly channel?: string;
}

/** The server subscribed this client to a channel it did not hold (the token's `subs`, the HTTP API). */
export interface ServerSubscriptionEvent {
  readonly channel: string;
  /** Attach listeners here: nothing of the channel has been delivered yet. */
  readonly subscription: Subscription;
}

export interface ClientEvents {
  subscription: ServerSubscriptionEvent;
  state: ClientStateEvent;
  connecting: StateReason;
  connected: ConnectedEvent;
  disconnected: StateReason;
  reconnecting: ReconnectingEvent;
  error: ClientErrorEvent;
  offlineQueue: OfflineQueueEvent;
}

export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';

/** Emitted on every subscription state transition. */
export interface SubscriptionStateEvent extends StateReason {
  readonly channel: string;
  readonly state: SubscriptionState;
  readonly previous: SubscriptionState;
}
export interface SubscriptionReasonEvent extends StateReason {
  readonly channel: string;
}
export interface SubscribedEvent extends StateReason {
  readonly channel: string;
  /** The stream's epoch and the offset from which publications follow. */
  readonly epoch: string;
  readonly offset: number;
  /** The namespace keeps history, so a later resubscribe can recover. */
  readonly recoverable: boolean;
  /** This subscribe tried to recover missed publications (a resubscribe). */
  readonly wasRecovering: boolean;
  /** Every missed publication was recovered and is delivered before live ones. When
   *  `wasRecovering` is true and this is false, data may have been missed: reload. */
  readonly recovered: boolean;
  /** Info the server gave this subscription (the app's backend, through the subscribe hook), if any. */
  readonly info?: unknown;
  /** Server features' state of the channel at subscribe time, by feature (`locks`: its locks). */
  readonly state?: Readonly<Record<string, unknown>>;
}
export interface PublicationEvent<T = unknown> extends Publication<T> {
  readonly channel: string;
}
export interface PresenceEvent<P = unknown> {
  readonly channel: string;
  readonly user: string;
  readonly device: PresenceDevice<P>;
}
export interface SignalEvent {
  readonly channel: string;
  readonly from: PublisherInfo;
  readonly key: string;
  readonly data: unknown;
}
export interface SubscriptionErrorEvent {
  readonly channel: string;
  readonly error: SwitchboardError;
  /** The automatic work that failed (explicit calls reject their promise instead). */
  readonly during: 'subscribe' | 'presence' | 'signal';
}

export interface SubscriptionEvents<T = unknown, P = unknown> {
  state: SubscriptionStateEvent;
  subscribing: SubscriptionReasonEvent;
  subscribed: SubscribedEvent;
  unsubscribed: SubscriptionReasonEvent;
  publication: PublicationEvent<T>;
  join: PresenceEvent<P>;
  leave: PresenceEvent<P>;
  update: PresenceEvent<P>;
  signal: SignalEvent;
  error: SubscriptionErrorEvent;
}
