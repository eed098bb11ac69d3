import type { DisconnectInfo } from './disconnect.js';

function def(code: number, reason: string): DisconnectInfo {
  return Object.freeze({ code, reason });
}

/**
 * Close codes of the documents endpoint (`/documents`, the y-websocket and Hocuspocus wire
 * protocols). They follow the providers' own convention rather than the kernel's ranges:
 * the y-websocket and Hocuspocus providers stop reconnecting on 4400–4499 (a decision the
 * server made that reconnecting cannot change, like HTTP's 4xx) and reconnect with backoff
 * on everything else. docs/protocol.md lists them; docs/documents.md says when each is sent.
 */
export const DocumentCloseCode = Object.freeze({
  /**
   * The document was reloaded from the store (an update broke it halfway through being
   * applied, and it was discarded without that update): reconnect and sync again.
   */
  Reset: def(4205, 'document reset'),
  /** The document's data broke the protocol: a corrupt Yjs or awareness update, an unknown message type. */
  InvalidUpdate: def(4400, 'invalid update'),
  /** No token, or a token that is invalid or expired; open again with a valid one. */
  Unauthorized: def(4401, 'unauthorized'),
  /** The token does not allow reading this document, or its name is not a document of this tenant. */
  Forbidden: def(4403, 'forbidden'),
  /** The document was deleted while open. */
  Deleted: def(4404, 'document deleted'),
  /** The update would take the document above its namespace's largest size. */
  TooLarge: def(4413, 'document too large'),
});

export type DocumentCloseCodeName = keyof typeof DocumentCloseCode;

/** Whether a y-websocket or Hocuspocus provider reconnects after this close code of the documents endpoint. */
export function documentShouldReconnect(code: number): boolean {
  return !(code >= 4400 && code < 4500);
}
