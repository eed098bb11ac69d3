import { DisconnectCode, type DisconnectInfo, DocumentCloseCode } from '@switchboard/protocol';
import { type Identity, validUntil } from '../../auth/token-verifier.js';
import type { EndpointConnection, EndpointRequest, EndpointSession } from '../../core/endpoint.js';
import type { TimerHandle } from '../../core/timer-wheel.js';
import { authenticate, DocumentBinding, type DocumentsRuntime, FloodGuard, OpenRefused } from './binding.js';
import {
  decodeHocuspocus,
  encodeAuthenticated,
  encodePermissionDenied,
  encodeSyncStatus,
  encodeTokenRequest,
  type HocuspocusMessage,
  PING,
  routingPrefix,
  withPrefix,
} from './hocuspocus-codec.js';
import type { DocumentPeer } from './live-document.js';
import { YProtocolError } from './y-websocket-codec.js';
import { expiryTimer, requestToken } from './y-websocket-session.js';

/** How the flood guard sees an auth or stateless message: as a sync message (over the rate, the connection closes). */
const AUTH_LIKE = Uint8Array.of(0);
/** Documents one Hocuspocus connection may have open at once. */
const MAX_DOCUMENTS = 100;
/** A fresh token is asked for this long before the current one expires (at most a quarter of its life). */
const REFRESH_AHEAD = 30_000;

/** One document of a Hocuspocus connection: the routing key, its binding, and the token that opened it. */
class HocuspocusDocument implements DocumentPeer {
  readonly id: string;
  readonly prefix: Buffer;
  binding: DocumentBinding | null = null;
  identity: Identity | null = null;
  refresh: TimerHandle | null = null;
  expiry: TimerHandle | null = null;

  constructor(
    private readonly conn: EndpointConnection,
    readonly key: string,
    /** The document is gone for this connection (discarded or deleted). */
    readonly end: (info: DisconnectInfo) => void,
  ) {
    this.id = `${conn.id}/${key}`;
    this.prefix = routingPrefix(key);
  }

  send(message: Buffer): void {
    this.conn.send(withPrefix(message, this.key, this.prefix), true);
  }

  sendRaw(message: Buffer): void {
    this.conn.send(message, true);
  }

  clearTimers(): void {
    this.refresh?.cancel();
    this.expiry?.cancel();
    this.refresh = null;
    this.expiry = null;
  }
}

/**
 * One Hocuspocus provider connection (`ws://host:7070/documents`): several documents over
 * one socket, each opened by its own auth message (its token; a token from the URL or a
 * `token.<jwt>` subprotocol serves when the message's is empty) and answered
 * `Authenticated` with its scope (`read-write` or `readonly`) or `PermissionDenied`. Each
 * update is acknowledged with `SyncStatus` once it is in the durable log, so the provider's
 * unsynced-changes count means stored; a read-only connection's update is refused with
 * `SyncStatus` false (true when it holds nothing new: a resync). Before a document's token
 * expires the provider is asked for a fresh one; it is checked like the first (access may
 * have changed) and, without one, the document is closed for this connection.
 */
export class HocuspocusSession implements EndpointSession {
  readonly #docs = new Map<string, HocuspocusDocument>();
  readonly #urlToken: string | undefined;
  readonly #guard: FloodGuard;
  #closed = false;

  constructor(
    private readonly conn: EndpointConnection,
    request: EndpointRequest,
    private readonly rt: DocumentsRuntime,
  ) {
    this.#urlToken = requestToken(request);
    this.#guard = new FloodGuard(rt.config.messagesPerSecond);
    rt.keepAlive.add(conn, PING);
  }

  message(data: Buffer, binary: boolean): void {
    if (this.#closed) return;
    if (!binary) {
      this.#close(DocumentCloseCode.InvalidUpdate, 'text message');
      return;
    }
    let message: HocuspocusMessage;
    try {
      message = decodeHocuspocus(data);
    } catch (err) {
      if (!(err instanceof YProtocolError)) throw err;
      this.rt.metrics.dropped('invalid');
      this.#close(DocumentCloseCode.InvalidUpdate, err.message.slice(0, 100));
      return;
    }
    if (message.kind === 'pong') return;
    // Auth and stateless messages count against the connection's rate like sync messages (each token is checked).
    if ((message.kind === 'auth' || message.kind === 'stateless') && this.#guard.admit(AUTH_LIKE) !== 'ok') {
      this.rt.metrics.dropped('rate');
      this.#close(DisconnectCode.Flood);
      return;
    }
    const doc = this.#docs.get(message.key);
    switch (message.kind) {
      case 'auth':
        if (doc?.identity) void this.#reauthorize(doc, message.token);
        else if (!doc) this.#open(message.key, message.token);
        return;
      case 'close':
        if (doc) this.#forget(doc);
        return;
      case 'stateless':
        // Stateless messages are Hocuspocus server hooks' business: there is none to hand them to.
        return;
      case 'y':
        // While the token is checked and the document loads, the binding keeps what comes (bounded).
        doc?.binding?.handle(message.body);
        return;
    }
  }

  #open(key: string, token: string): void {
    if (this.#docs.size >= MAX_DOCUMENTS) {
      this.conn.send(encodePermissionDenied(routingPrefix(key), `at most ${MAX_DOCUMENTS} documents per connection`), true);
      return;
    }
    // Discarded: the whole socket reconnects (the provider syncs again); deleted: this document is refused.
    const doc = new HocuspocusDocument(this.conn, key, (info) =>
      info.code === DocumentCloseCode.Reset.code ? this.#close(info) : this.#refuse(doc, info.reason),
    );
    this.#docs.set(key, doc);
    const binding = new DocumentBinding(
      this.rt,
      doc,
      { step1AfterStep2: true, tellReadOnly: false, ack: (applied) => doc.sendRaw(encodeSyncStatus(doc.prefix, applied)) },
      this,
      this.conn.meta.ip,
      this.#guard,
    );
    doc.binding = binding;
    void (async () => {
      try {
        const identity = await authenticate(this.rt.node, token || this.#urlToken, this.conn.meta.ip);
        if (this.#closed || this.#docs.get(key) !== doc) return;
        // The document's name is the key without a `sessionAwareness` suffix.
        await binding.open(identity, key.split('\0')[0] as string);
        if (this.#closed || this.#docs.get(key) !== doc) return;
        doc.identity = identity;
      } catch (err) {
        if (!(err instanceof OpenRefused)) throw err;
        this.#refuse(doc, err.message);
        return;
      }
      doc.sendRaw(encodeAuthenticated(doc.prefix, binding.writable ? 'read-write' : 'readonly'));
      for (const m of binding.greeting(false)) doc.send(m);
      this.#schedule(doc);
      binding.drain();
    })();
  }

  /** A fresh token for an open document: access is checked again; refused, the document closes for this connection. */
  async #reauthorize(doc: HocuspocusDocument, token: string): Promise<void> {
    try {
      const identity = await authenticate(this.rt.node, token || this.#urlToken, this.conn.meta.ip);
      if (this.#closed || this.#docs.get(doc.key) !== doc || !doc.binding) return;
      doc.binding.reauthorize(identity);
      doc.identity = identity;
      doc.sendRaw(encodeAuthenticated(doc.prefix, doc.binding.writable ? 'read-write' : 'readonly'));
      this.#schedule(doc);
    } catch (err) {
      if (!(err instanceof OpenRefused)) throw err;
      this.#refuse(doc, err.message);
    }
  }

  /** Ask for a fresh token ahead of expiry, and close the document at expiry if none came. */
  #schedule(doc: HocuspocusDocument): void {
    doc.clearTimers();
    const identity = doc.identity as Identity;
    const { node } = this.rt;
    const now = node.now();
    const lifetime = identity.expires - now;
    doc.refresh = expiryTimer(this.rt.timers, lifetime - Math.min(REFRESH_AHEAD, lifetime / 4), () => doc.sendRaw(encodeTokenRequest(doc.prefix)));
    doc.expiry = expiryTimer(this.rt.timers, validUntil(identity, node.config.auth.clockSkew) - now, () => this.#refuse(doc, 'token expired'));
  }

  #refuse(doc: HocuspocusDocument, reason: string): void {
    if (this.#closed || this.#docs.get(doc.key) !== doc) return;
    doc.sendRaw(encodePermissionDenied(doc.prefix, reason));
    this.#forget(doc);
  }

  #forget(doc: HocuspocusDocument): void {
    doc.clearTimers();
    doc.binding?.release();
    this.#docs.delete(doc.key);
  }

  closeConnection(info: DisconnectInfo, detail?: string): void {
    this.#close(info, detail);
  }

  #close(info: DisconnectInfo, detail?: string): void {
    this.conn.close(info.code, detail ? `${info.reason}: ${detail}` : info.reason);
    this.closed();
  }

  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.rt.keepAlive.remove(this.conn);
    for (const doc of [...this.#docs.values()]) this.#forget(doc);
  }
}
