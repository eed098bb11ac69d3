/**
 * WebSocket close codes of protocol v1. The range alone says what a client does:
 * 3000–3499 reconnect, 3500–3999 do not reconnect, 4000–4499 application-defined and
 * reconnect, 4500–4999 application-defined and do not reconnect. Reasons are at most
 * 123 bytes. Mirrored in docs/protocol.md (a test keeps them in sync).
 */
export interface DisconnectInfo {
  readonly code: number;
  readonly reason: string;
}

function def(code: number, reason: string): DisconnectInfo {
  return Object.freeze({ code, reason });
}

export const DisconnectCode = Object.freeze({
  /** The server is shutting down or restarting; reconnect after a random delay. */
  Shutdown: def(3001, 'shutdown'),
  /** An internal error closed the connection; reconnect with backoff. */
  ServerError: def(3002, 'internal server error'),
  /** The token expired and was not refreshed in time; get a new token, then reconnect. */
  Expired: def(3003, 'token expired'),
  /** No `connect` command arrived within the handshake deadline. */
  Stale: def(3004, 'stale: no connect in time'),
  /** The client did not answer pings in time (half-open connection). */
  NoPong: def(3005, 'no pong'),
  /** The client could not keep up with reliable messages; reconnect and recover. */
  SlowConsumer: def(3006, 'slow consumer, reconnect and recover'),
  /** The connection sent commands faster than its limit; reconnect with backoff. */
  Flood: def(3007, 'command flood'),
  /** An operator asked the client to reconnect (for example to rebalance). */
  ForceReconnect: def(3008, 'force reconnect'),
  /**
   * Sent as the code of an `unsubscribe` push: the channel's stream lost data under this
   * subscription (the store restarted empty, was flushed or failed over to a replica that
   * was behind). Resubscribe with recovery: the reply says `recovered: false` and gives
   * the new epoch.
   */
  InsufficientState: def(3009, 'insufficient state, resubscribe and recover'),
  /** The token is invalid: bad signature, algorithm, claims or format. Do not reconnect with it. */
  InvalidToken: def(3500, 'invalid token'),
  /** The client broke the protocol (bad frame, binary where text expected, bad connect). */
  BadRequest: def(3501, 'bad request'),
  /** The operator disconnected this user; do not reconnect automatically. */
  ForceDisconnect: def(3502, 'disconnected by server'),
  /** The user or tenant already has the maximum number of connections. */
  ConnectionLimit: def(3503, 'connection limit reached'),
  /** The client is not allowed to connect (for example revoked). */
  Forbidden: def(3504, 'forbidden'),
});

export type DisconnectCodeName = keyof typeof DisconnectCode;

/** True when a client should reconnect after a close with this code. */
export function shouldReconnect(code: number): boolean {
  if (code >= 3000 && code < 3500) return true;
  if (code >= 3500 && code < 4000) return false;
  if (code >= 4000 && code < 4500) return true;
  if (code >= 4500 && code < 5000) return false;
  // Standard WebSocket codes: 1000 is a normal close initiated by the application,
  // 1008/1009/1002/1003/1007 are protocol or policy violations that repeat if retried.
  return !(code === 1002 || code === 1003 || code === 1007 || code === 1008 || code === 1009);
}

const byCode = new Map<number, DisconnectCodeName>();
for (const name of Object.keys(DisconnectCode) as DisconnectCodeName[]) byCode.set(DisconnectCode[name].code, name);

/** The name of a Switchboard close code, or undefined. */
export function disconnectCodeName(code: number): DisconnectCodeName | undefined {
  return byCode.get(code);
}
