import type { IncomingHttpHeaders } from 'node:http';
import { type DisconnectInfo, DocumentCloseCode } from '@switchboard/protocol';
import { type Identity, TokenError, validUntil } from '../../auth/token-verifier.js';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import type { EndpointConnection, EndpointRequest, EndpointSession } from '../../core/endpoint.js';
import { can } from '../../core/permissions.js';
import { type DocumentSettings, type DocumentsConfig, documentSettings } from './config.js';
import type { Documents } from './documents.js';
import type { DocumentPeer, LiveDocument } from './live-document.js';
import type { DocumentMetrics } from './metrics.js';
import { decodeYMessage, encodeAwareness, encodePermissionDenied, encodeSyncStep1, encodeSyncStep2, YProtocolError } from './y-websocket-codec.js';

/** A token offered as a WebSocket subprotocol, for apps that keep tokens out of URLs: `token.<jwt>`. */
export const TOKEN_PROTOCOL_PREFIX = 'token.';
/** Messages a connection may send before it is authenticated and its document loaded. */
const MAX_EARLY_MESSAGES = 64;

/** What a documents session needs from the running feature. */
export interface DocumentsRuntime {
  node: NodeContext;
  documents: Documents;
  config: DocumentsConfig;
  metrics: DocumentMetrics;
}

/** The subprotocol to agree on: the first one offered that is not a token, else the token itself (a browser needs one echoed). */
export function chooseProtocol(offered: ReadonlySet<string>): string | false {
  let token: string | false = false;
  for (const p of offered) {
    if (!p.startsWith(TOKEN_PROTOCOL_PREFIX)) return p;
    token ||= p;
  }
  return token;
}

/** The token of an upgrade request: the `token` query parameter (what y-websocket's `params` send), else a `token.<jwt>` subprotocol. */
export function requestToken(request: EndpointRequest): string | undefined {
  const fromQuery = request.query.get('token');
  if (fromQuery) return fromQuery;
  const header: IncomingHttpHeaders['sec-websocket-protocol'] = request.headers['sec-websocket-protocol'];
  for (const p of (header ?? '').split(',')) {
    const name = p.trim();
    if (name.startsWith(TOKEN_PROTOCOL_PREFIX)) return name.slice(TOKEN_PROTOCOL_PREFIX.length);
  }
  return undefined;
}

/**
 * One y-websocket provider's connection: one document, named by the URL path after
 * `/documents/`. The token is checked, the name resolved in the token's tenant and the
 * document loaded while early messages wait (bounded); then the y-websocket server's sync
 * runs: the server sends its state vector and the awareness states, answers a state vector
 * with what the provider lacks, and applies, stores and relays the provider's updates.
 *
 * Capabilities: `subscribe` reads (sync and receive), `publish` writes, `presence` sets
 * awareness. A read-only provider's updates are dropped and counted, and it is told once
 * with y-protocols' "permission denied" (y-websocket has no error reply).
 */
export class YWebsocketSession implements EndpointSession, DocumentPeer {
  readonly id: string;
  #early: Buffer[] | null = [];
  #doc: LiveDocument | null = null;
  #settings: DocumentSettings | null = null;
  #writable = false;
  #aware = false;
  #denied = false;
  #expiry: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    private readonly conn: EndpointConnection,
    private readonly request: EndpointRequest,
    private readonly rt: DocumentsRuntime,
  ) {
    this.id = conn.id;
    void this.#start();
  }

  send(message: Buffer): void {
    this.conn.send(message, true);
  }

  async #start(): Promise<void> {
    const { node } = this.rt;
    let identity: Identity;
    try {
      identity = await node.verifyToken(requestToken(this.request));
    } catch (err) {
      if (!(err instanceof TokenError)) node.logger.warn({ err }, 'checking a documents token failed');
      this.#close(DocumentCloseCode.Unauthorized, err instanceof TokenError ? err.message : undefined);
      return;
    }
    let ch: ResolvedChannel;
    try {
      ch = node.resolve(identity.tenant, this.request.subpath);
    } catch {
      this.#close(DocumentCloseCode.Forbidden, 'not a document name');
      return;
    }
    const settings = documentSettings(this.rt.config, ch.options['documents']);
    if (!settings || !can(identity, ch, 'subscribe')) {
      this.#close(DocumentCloseCode.Forbidden, settings ? 'no read access' : 'not a document namespace');
      return;
    }
    this.#settings = settings;
    this.#writable = can(identity, ch, 'publish');
    this.#aware = settings.awareness && can(identity, ch, 'presence');
    this.#expireAt(validUntil(identity, node.config.auth.clockSkew) - node.now());
    if (this.#closed) return;
    let doc: LiveDocument;
    try {
      doc = await this.rt.documents.open(ch, settings, this);
    } catch (err) {
      node.logger.warn({ err, channel: ch.channel }, 'loading a document failed');
      this.#close({ code: 1011, reason: 'document unavailable' });
      return;
    }
    if (this.#closed) {
      doc.leave(this);
      return;
    }
    this.#doc = doc;
    this.send(encodeSyncStep1(doc.stateVector()));
    const states = doc.awarenessStates();
    if (states) this.send(encodeAwareness(states));
    const early = this.#early ?? [];
    this.#early = null;
    for (const m of early) if (!this.#closed) this.#handle(m);
  }

  #expireAt(ms: number): void {
    if (!Number.isFinite(ms)) return;
    if (ms <= 0) {
      this.#close(DocumentCloseCode.Unauthorized, 'token expired');
      return;
    }
    // A timer per connection, only for the documents endpoint's tokens; at most about 24 days out.
    this.#expiry = setTimeout(() => this.#close(DocumentCloseCode.Unauthorized, 'token expired'), Math.min(ms, 2 ** 31 - 1));
    this.#expiry.unref();
  }

  message(data: Buffer, binary: boolean): void {
    if (this.#closed) return;
    if (!binary) {
      this.#close(DocumentCloseCode.InvalidUpdate, 'text message');
      return;
    }
    if (this.#early) {
      if (this.#early.length >= MAX_EARLY_MESSAGES) this.#close(DocumentCloseCode.InvalidUpdate, 'too many messages before the document opened');
      else this.#early.push(data);
      return;
    }
    this.#handle(data);
  }

  #handle(data: Buffer): void {
    const doc = this.#doc as LiveDocument;
    const settings = this.#settings as DocumentSettings;
    const { metrics } = this.rt;
    let message: ReturnType<typeof decodeYMessage>;
    try {
      message = decodeYMessage(data);
    } catch (err) {
      if (!(err instanceof YProtocolError)) throw err;
      metrics.dropped('invalid');
      this.#close(DocumentCloseCode.InvalidUpdate, err.message.slice(0, 100));
      return;
    }
    switch (message.kind) {
      case 'sync-step1': {
        const diff = doc.diff(message.stateVector);
        if (diff === null) {
          metrics.dropped('invalid');
          this.#close(DocumentCloseCode.InvalidUpdate, 'malformed state vector');
          return;
        }
        this.send(encodeSyncStep2(diff));
        return;
      }
      case 'sync-step2':
      case 'update': {
        if (!this.#writable) {
          metrics.dropped('read_only');
          if (!this.#denied) this.send(encodePermissionDenied('read-only: this token may not write to the document'));
          this.#denied = true;
          return;
        }
        if (message.update.byteLength > settings.maxUpdateBytes) {
          metrics.dropped('too_large');
          this.#close({ code: 1009, reason: 'update too large' });
          return;
        }
        const result = doc.apply(message.update, this);
        if (result === 'applied') metrics.applied();
        else if (result === 'invalid') {
          metrics.dropped('invalid');
          this.#close(DocumentCloseCode.InvalidUpdate, 'malformed Yjs update');
        } else {
          metrics.dropped('too_large');
          this.#close(DocumentCloseCode.TooLarge);
        }
        return;
      }
      case 'awareness': {
        if (!this.#aware) {
          metrics.dropped('awareness_off');
          return;
        }
        const result = doc.applyAwareness(message.update, this);
        if (result === 'invalid') {
          metrics.dropped('invalid');
          this.#close(DocumentCloseCode.InvalidUpdate, 'malformed awareness update');
        } else if (result === 'awareness_owner') metrics.dropped('awareness_owner');
        return;
      }
      case 'query-awareness': {
        const states = doc.awarenessStates();
        if (states) this.send(encodeAwareness(states));
        return;
      }
    }
  }

  #close(info: DisconnectInfo, detail?: string): void {
    this.conn.close(info.code, detail ? `${info.reason}: ${detail}` : info.reason);
    this.closed();
  }

  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#early = null;
    if (this.#expiry) clearTimeout(this.#expiry);
    this.#doc?.leave(this);
    this.#doc = null;
  }
}
