/**
 * Codes the SDK produces itself, never sent on the wire. They live in 0–99 so they
 * cannot collide with server reply errors (100–1999) or WebSocket close codes
 * (1000–4999). They appear in state events (`{code, reason}`) and in
 * `SwitchboardError.code` for errors raised by the SDK rather than the server.
 */
export interface ClientCodeInfo {
  readonly code: number;
  readonly reason: string;
  /** For errors: true when the same call may succeed later. */
  readonly temporary: boolean;
}

function def(code: number, reason: string, temporary = false): ClientCodeInfo {
  return Object.freeze({ code, reason, temporary });
}

export const ClientCode = Object.freeze({
  /** `connect()` started a connection. */
  ConnectCalled: def(0, 'connect called'),
  /** `disconnect()` stopped the client. */
  DisconnectCalled: def(1, 'disconnect called'),
  /** The server accepted `connect`. */
  Connected: def(2, 'connected'),
  /** The socket closed or failed without a close code. */
  TransportClosed: def(3, 'transport closed', true),
  /** No `connect` reply within `connectTimeout`. */
  ConnectTimeout: def(4, 'connect timeout', true),
  /** No ping (nor any message) from the server within ping + pong ms. */
  NoPing: def(5, 'no ping from server', true),
  /** The server sent a message that is not valid protocol JSON. */
  BadFrame: def(6, 'bad frame from server', true),
  /** `getToken` failed; retried with backoff. */
  TokenUnavailable: def(7, 'could not get a token', true),
  /** `getToken` refused with a non-temporary SwitchboardError; the client stops. */
  Unauthorized: def(8, 'unauthorized'),
  /** `subscribe()` started a subscription. */
  SubscribeCalled: def(10, 'subscribe called'),
  /** `unsubscribe()` ended a subscription. */
  UnsubscribeCalled: def(11, 'unsubscribe called'),
  /** The server accepted `subscribe`. */
  Subscribed: def(12, 'subscribed'),
  /** No reply within `commandTimeout`. The command may still have been applied. */
  Timeout: def(20, 'command timed out', true),
  /** The connection dropped before the reply arrived. */
  ConnectionClosed: def(21, 'connection closed before reply', true),
  /** The client is disconnected (by `disconnect()` or a close that must not be retried). */
  ClientDisconnected: def(22, 'client disconnected'),
  /** The offline queue already holds `offlineQueue.maxSize` publishes. */
  OfflineQueueFull: def(23, 'offline queue full', true),
  /** The subscription was unsubscribed before the call could run. */
  SubscriptionUnsubscribed: def(24, 'subscription unsubscribed'),
  /** An option passed to the client is not valid. */
  BadConfiguration: def(25, 'bad configuration'),
  /**
   * The server refuses WebSockets from this page's Origin (its `allowedOrigins`); the client
   * stops instead of retrying forever. The reason names the Origin and the option.
   */
  OriginRefused: def(26, 'origin not allowed by the server'),
  /** Connected over the fallback, a WebSocket got through: the client reconnects over WebSocket. */
  TransportUpgrade: def(27, 'switching to WebSocket', true),
});

export type ClientCodeName = keyof typeof ClientCode;

/** The `{code, reason}` pair carried by every state event. */
export interface StateReason {
  readonly code: number;
  readonly reason: string;
}

/** `{code, reason}` of a client code, without the `temporary` flag. */
export function reasonOf(info: ClientCodeInfo): StateReason {
  return { code: info.code, reason: info.reason };
}
