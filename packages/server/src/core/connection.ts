/** What core needs from a transport connection (a WebSocket, or an in-memory test pipe). */
export interface Connection {
  /**
   * Send the first `count` frames as one text message, joined by newlines; `bytes` is
   * the sum of their lengths. `streams`, when given, names each frame's stream (a channel's
   * publications of one kind; null: a reply or other one-off frame): a transport that
   * compresses with context takeover may send a stream's consecutive frames as messages of
   * their own. Frames are not retained after the call returns (the arrays are reused).
   */
  send(frames: readonly Buffer[], count: number, bytes: number, streams?: readonly (string | null)[]): void;
  /** Send one binary message; the same payload sent to many connections in a row is framed once. */
  sendBinary(payload: Buffer): void;
  close(code: number, reason: string): void;
  /** Bytes accepted by send() but not yet written to the network. */
  bufferedAmount(): number;
}

/** Facts about the peer known at upgrade time. */
export interface ConnectionMeta {
  ip: string;
  origin?: string;
  userAgent?: string;
  /** The upgrade request's headers that features asked for (`connectionHeaders` in their manifest), lower-case names. */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
}
