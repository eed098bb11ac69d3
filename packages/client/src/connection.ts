import { decodeServerMessage, encodeFrame, encodeFrames, type ServerFrame } from '@switchboard/protocol';
import { ClientCode, reasonOf, type StateReason } from './codes.js';
import { SwitchboardError } from './errors.js';
import { SOCKET_OPEN, type WebSocketConstructor, type WebSocketLike } from './websocket.js';

/** What a connection reports to its owner. Nothing is reported after `close()`. */
export interface ConnectionHandlers {
  onOpen(): void;
  /** A message arrived (before its frames are handled). */
  onMessage(): void;
  onFrame(frame: ServerFrame): void;
  /** The socket closed or failed; `info` carries the close code. */
  onClose(info: StateReason): void;
  /** The server sent something that is not protocol JSON. */
  onBadMessage(error: SwitchboardError): void;
}

/**
 * One WebSocket: decodes incoming messages into frames and batches the frames sent
 * while handling one message (or inside `cork`) into one outgoing message.
 */
export class Connection {
  readonly #socket: WebSocketLike;
  readonly #handlers: ConnectionHandlers;
  #outbox: object[] | null = null;
  #closed = false;

  /** Opens the socket; throws when the WebSocket constructor does. */
  constructor(WebSocket: WebSocketConstructor, url: string, handlers: ConnectionHandlers) {
    this.#handlers = handlers;
    this.#socket = new WebSocket(url);
    this.#socket.addEventListener('open', () => {
      if (!this.#closed) handlers.onOpen();
    });
    this.#socket.addEventListener('message', (event) => this.#onMessage(event.data));
    this.#socket.addEventListener('close', (event) => {
      if (this.#closed) return;
      this.#closed = true;
      const code = typeof event.code === 'number' && event.code > 0 ? event.code : ClientCode.TransportClosed.code;
      handlers.onClose({ code, reason: event.reason || (code === 1006 ? 'abnormal closure' : '') });
    });
    // `ws` throws on an 'error' event nobody listens to; the 'close' event that follows does the work.
    this.#socket.addEventListener('error', () => {});
  }

  send(frame: object): void {
    if (this.#closed) return;
    if (this.#outbox !== null) this.#outbox.push(frame);
    else this.#write(encodeFrame(frame));
  }

  /** Send the frames produced by `fn` as one message. */
  cork(fn: () => void): void {
    if (this.#outbox !== null) {
      fn();
      return;
    }
    const outbox: object[] = [];
    this.#outbox = outbox;
    try {
      fn();
    } finally {
      this.#outbox = null;
      if (outbox.length > 0 && !this.#closed) this.#write(encodeFrames(outbox));
    }
  }

  /** Close the socket; the owner hears nothing more from this connection. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#socket.close(1000, reason.slice(0, 120));
    } catch {
      // Already closing; nothing else to do.
    }
  }

  #write(text: string): void {
    // Closing or closed (the server's close frame came, its 'close' event has not yet): a
    // browser would drop the message and log an error; the 'close' event that follows does
    // the work (commands waiting for an answer are failed or sent again after reconnecting).
    if (this.#socket.readyState > SOCKET_OPEN) return;
    try {
      this.#socket.send(text);
    } catch {
      this.close(ClientCode.TransportClosed.reason);
      this.#handlers.onClose(reasonOf(ClientCode.TransportClosed));
    }
  }

  #onMessage(data: unknown): void {
    if (this.#closed) return;
    this.#handlers.onMessage();
    let frames: ServerFrame[];
    try {
      if (typeof data !== 'string') throw new SyntaxError('binary message');
      frames = decodeServerMessage(data);
    } catch (err) {
      this.#handlers.onBadMessage(SwitchboardError.of(ClientCode.BadFrame, err instanceof Error ? err.message : undefined));
      return;
    }
    this.cork(() => {
      for (const frame of frames) {
        if (this.#closed) return;
        if (typeof frame === 'object' && frame !== null) this.#handlers.onFrame(frame);
      }
    });
  }
}
