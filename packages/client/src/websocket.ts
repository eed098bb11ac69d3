/**
 * The part of the WebSocket API the SDK uses. Both the browser's `WebSocket` and the
 * `ws` package's class satisfy it, so Node users pass `ws` and browsers need nothing.
 */
export interface SocketEvent {
  readonly type: string;
}
export interface SocketMessageEvent {
  readonly data: unknown;
}
export interface SocketCloseEvent {
  readonly code: number;
  readonly reason: string;
}

export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', listener: (event: SocketEvent) => void): void;
  addEventListener(type: 'message', listener: (event: SocketMessageEvent) => void): void;
  addEventListener(type: 'close', listener: (event: SocketCloseEvent) => void): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** `WebSocket.OPEN`. */
export const SOCKET_OPEN = 1;
