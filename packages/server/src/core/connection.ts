/** What core needs from a transport connection (a WebSocket, or an in-memory test pipe). */
export interface Connection {
  /** Send one text message. */
  send(data: Buffer): void;
  close(code: number, reason: string): void;
  /** Bytes accepted by send() but not yet written to the network. */
  bufferedAmount(): number;
}

/** Facts about the peer known at upgrade time. */
export interface ConnectionMeta {
  ip: string;
  origin?: string;
  userAgent?: string;
}
