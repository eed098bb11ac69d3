import { DisconnectCode, type DisconnectInfo, DocumentCloseCode } from '@switchboard/protocol';
import { type Identity, TokenError, validUntil } from '../../auth/token-verifier.js';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import { can } from '../../core/permissions.js';
import { tokenFingerprint } from '../../core/security-events.js';
import type { TimerWheel } from '../../core/timer-wheel.js';
import { TokenBucket } from '../../engine/token-bucket.js';
import { AwarenessPresence } from './awareness-presence.js';
import { type DocumentSettings, type DocumentsConfig, documentSettings } from './config.js';
import type { Documents } from './documents.js';
import type { DocumentHooks, DocumentsService } from './hooks.js';
import type { KeepAlive } from './keepalive.js';
import type { DocumentPeer, LiveDocument } from './live-document.js';
import type { DocumentMetrics } from './metrics.js';
import { decodeYMessage, encodeAwareness, encodePermissionDenied, encodeSyncStep1, encodeSyncStep2, Y_MESSAGE, YProtocolError } from './y-websocket-codec.js';

/** What a documents connection needs from the running feature. */
/** The running feature: what its endpoints and commands use, and its service (the embedding app's hooks). */
export interface DocumentsRuntime extends DocumentsService {
  node: NodeContext;
  documents: Documents;
  config: DocumentsConfig;
  metrics: DocumentMetrics;
  keepAlive: KeepAlive;
  /** One wheel for the token deadlines of every documents connection (a Node timer each would cost a timer list each). */
  timers: TimerWheel;
  hooks: DocumentHooks;
}

/** How a wire protocol differs in what the server says back (y-websocket and Hocuspocus share the rest). */
/** The connection a binding belongs to, closed as a whole with a documented code. */
export interface ConnectionCloser {
  closeConnection(info: DisconnectInfo, detail?: string): void;
}

export interface Dialect {
  /** Answer a state vector with sync step 2 and then the server's own step 1 (Hocuspocus), or step 2 only (y-websocket). */
  step1AfterStep2: boolean;
  /** Acknowledge every update once it is stored (Hocuspocus `SyncStatus`); undefined: no acknowledgements. */
  ack?(applied: boolean): void;
  /** Tell a read-only writer once with y-protocols' "permission denied" (y-websocket). */
  tellReadOnly: boolean;
}

/** Why a document could not be opened: the close (or refusal) to give. */
export class OpenRefused extends Error {
  constructor(
    readonly info: DisconnectInfo,
    readonly detail?: string,
  ) {
    super(detail ? `${info.reason}: ${detail}` : info.reason);
  }
}

/** The identity a token grants, or OpenRefused(4401); a refused token is reported to the audit log (its fingerprint, never the token). */
export async function authenticate(node: NodeContext, token: string | undefined, ip: string): Promise<Identity> {
  try {
    return await node.verifyToken(token);
  } catch (err) {
    if (!(err instanceof TokenError)) node.logger.warn({ err }, 'checking a documents token failed');
    else if (node.security.active)
      node.security.report({
        type: 'auth.failed',
        tenant: err.verified?.tenant ?? null,
        user: err.verified?.user ?? null,
        ip,
        reason: err.reason,
        fingerprint: tokenFingerprint(token),
        command: 'documents',
      });
    throw new OpenRefused(DocumentCloseCode.Unauthorized, err instanceof TokenError ? err.message : undefined);
  }
}

/**
 * One connection's hold on one document, whatever the wire protocol: the capabilities its
 * token grants there (`subscribe` reads, `publish` writes, `presence` sets awareness), and
 * the y-protocols sync and awareness messages it sends, applied under them. Messages that
 * arrive while the document loads wait (bounded). A malformed message closes the connection
 * (through `close`); a read-only writer's updates are dropped and counted.
 */
export class DocumentBinding {
  #doc: LiveDocument | null = null;
  #early: Uint8Array[] | null = [];
  #settings: DocumentSettings | null = null;
  #channel: ResolvedChannel | null = null;
  /** Who writes through this binding (the token's user), for a version's authors. */
  #user: string | null = null;
  #writable = false;
  #aware = false;
  /** Its place in the channel's presence while it shares awareness. */
  #presence: AwarenessPresence | null = null;
  #info: unknown;
  #denied = false;
  #closed = false;
  /** Acknowledgements in order: each waits for the writes queued before it. */
  #acks: Promise<void> = Promise.resolve();

  constructor(
    private readonly rt: DocumentsRuntime,
    private readonly peer: DocumentPeer,
    private readonly dialect: Dialect,
    /** Closes the whole connection with a documented code (an object, not a closure per binding). */
    private readonly connection: ConnectionCloser,
    /** The peer's address, for the audit log. */
    private readonly ip: string,
    /** The connection's message rate, shared by its documents. */
    private readonly guard: FloodGuard,
  ) {}

  get writable(): boolean {
    return this.#writable;
  }

  get document(): LiveDocument | null {
    return this.#doc;
  }

  /** Check the identity's access to `name` and load the document; OpenRefused when it may not. Returns when it is open. */
  async open(identity: Identity, name: string): Promise<void> {
    const { node } = this.rt;
    let ch: ResolvedChannel;
    try {
      ch = node.resolve(identity.tenant, name);
    } catch {
      throw new OpenRefused(DocumentCloseCode.Forbidden, 'not a document name');
    }
    const settings = documentSettings(this.rt.config, ch.options['documents']);
    if (!settings || !can(identity, ch, 'subscribe')) {
      if (settings && node.security.active)
        node.security.report({
          type: 'channel.forbidden',
          tenant: identity.tenant,
          user: identity.user,
          ip: this.ip,
          channel: ch.channel,
          action: 'subscribe',
          reason: 'permission',
        });
      throw new OpenRefused(DocumentCloseCode.Forbidden, settings ? 'no read access' : 'not a document namespace');
    }
    if (validUntil(identity, node.config.auth.clockSkew) <= node.now()) throw new OpenRefused(DocumentCloseCode.Unauthorized, 'token expired');
    const allowed = await this.rt.hooks.authorize({
      tenant: identity.tenant,
      name: ch.channel,
      user: identity.user,
      read: true,
      write: can(identity, ch, 'publish'),
      via: 'provider',
    });
    if (!allowed) throw new OpenRefused(DocumentCloseCode.Forbidden, 'refused by the app');
    this.#settings = settings;
    this.#channel = ch;
    this.#grant(identity);
    let doc: LiveDocument;
    try {
      doc = await this.rt.documents.open(ch, settings, this.peer);
    } catch (err) {
      node.logger.warn({ err, channel: ch.channel }, 'loading a document failed');
      throw new OpenRefused({ code: 1011, reason: 'document unavailable' });
    }
    if (this.#closed) {
      doc.leave(this.peer);
      return;
    }
    this.#doc = doc;
    this.#channel = null;
  }

  /**
   * The document's channel: kept while it opens, then resolved again when needed (one object
   * less per open document); OpenRefused when its namespace is gone (a configuration reload).
   */
  #resolved(): ResolvedChannel | null {
    const doc = this.#doc;
    if (this.#channel || !doc) return this.#channel;
    try {
      return this.rt.node.resolve(doc.tenant, doc.channel);
    } catch {
      throw new OpenRefused(DocumentCloseCode.Forbidden, 'not a document name');
    }
  }

  #grant(identity: Identity): void {
    this.#user = identity.user;
    this.#info = identity.info;
    const ch = this.#resolved() as ResolvedChannel;
    this.#writable = can(identity, ch, 'publish');
    this.#aware = (this.#settings as DocumentSettings).awareness && can(identity, ch, 'presence');
    if (!this.#aware) {
      void this.#presence?.close();
      this.#presence = null;
    }
  }

  /**
   * A fresh token for the open document: what it may do follows the new token (write, or
   * read only). OpenRefused when it may no longer read it, or it expired.
   */
  reauthorize(identity: Identity): void {
    const ch = this.#resolved();
    if (!ch) return;
    if (!can(identity, ch, 'subscribe')) throw new OpenRefused(DocumentCloseCode.Forbidden, 'no read access');
    if (validUntil(identity, this.rt.node.config.auth.clockSkew) <= this.rt.node.now()) throw new OpenRefused(DocumentCloseCode.Unauthorized, 'token expired');
    this.#grant(identity);
    this.#denied = false;
  }

  /** The messages a provider gets first: the server's state vector (y-websocket) and the awareness states. */
  greeting(withStep1: boolean): Buffer[] {
    const doc = this.#doc;
    if (!doc) return [];
    const out = withStep1 ? [encodeSyncStep1(doc.stateVector())] : [];
    const states = doc.aware.encoded();
    if (states) out.push(encodeAwareness(states));
    return out;
  }

  /** Handle what waited for the document, then take messages as they come. */
  drain(): void {
    const early = this.#early ?? [];
    this.#early = null;
    for (const m of early) if (!this.#closed) this.handle(m);
  }

  /** One y-protocols message (type and body, without any routing prefix). */
  handle(data: Uint8Array): void {
    if (this.#closed) return;
    const admitted = this.guard.admit(data);
    if (admitted === 'drop') {
      this.rt.metrics.dropped('rate');
      return;
    }
    if (admitted === 'close') {
      this.rt.metrics.dropped('rate');
      this.connection.closeConnection(DisconnectCode.Flood);
      return;
    }
    if (this.#early) {
      if (this.#early.length >= MAX_EARLY_MESSAGES)
        this.connection.closeConnection(DocumentCloseCode.InvalidUpdate, 'too many messages before the document opened');
      else this.#early.push(data);
      return;
    }
    const doc = this.#doc as LiveDocument;
    const settings = this.#settings as DocumentSettings;
    const { metrics } = this.rt;
    let message: ReturnType<typeof decodeYMessage>;
    try {
      message = decodeYMessage(data);
    } catch (err) {
      if (!(err instanceof YProtocolError)) throw err;
      metrics.dropped('invalid');
      this.connection.closeConnection(DocumentCloseCode.InvalidUpdate, err.message.slice(0, 100));
      return;
    }
    switch (message.kind) {
      case 'sync-step1': {
        const diff = doc.diff(message.stateVector);
        if (diff === null) {
          metrics.dropped('invalid');
          this.connection.closeConnection(DocumentCloseCode.InvalidUpdate, 'malformed state vector');
          return;
        }
        this.peer.send(encodeSyncStep2(diff));
        if (this.dialect.step1AfterStep2) this.peer.send(encodeSyncStep1(doc.stateVector()));
        return;
      }
      case 'sync-step2':
      case 'update': {
        if (!this.#writable) {
          metrics.dropped('read_only');
          if (this.dialect.tellReadOnly && !this.#denied) this.peer.send(encodePermissionDenied('read-only: this token may not write to the document'));
          this.#denied = true;
          // Hocuspocus: an update with nothing new is acknowledged, one with changes refused.
          this.#ack(doc.holds(message.update));
          return;
        }
        if (message.update.byteLength > settings.maxUpdateBytes) {
          metrics.dropped('too_large');
          this.connection.closeConnection({ code: 1009, reason: 'update too large' });
          return;
        }
        const result = doc.apply(message.update, this.peer, this.#user);
        if (result === 'applied') {
          metrics.applied();
          this.#ack(true);
        } else if (result === 'invalid') {
          metrics.dropped('invalid');
          this.connection.closeConnection(DocumentCloseCode.InvalidUpdate, 'malformed Yjs update');
        } else if (typeof result === 'object') {
          // Another user holds a lock on a part it touches: dropped whole (y-websocket is told, Hocuspocus gets SyncStatus false).
          metrics.dropped('locked');
          if (this.dialect.tellReadOnly) this.peer.send(encodePermissionDenied(`locked: ${result.locked}`));
          this.#ack(false);
        } else {
          metrics.dropped('too_large');
          this.connection.closeConnection(DocumentCloseCode.TooLarge);
        }
        return;
      }
      case 'awareness': {
        if (!this.#aware) {
          metrics.dropped('awareness_off');
          return;
        }
        const result = doc.aware.apply(message.update, this.peer, this.#user);
        if (result === 'applied') this.#presenceOf().changed(doc.aware.statesOf(this.peer));
        else if (result === 'invalid') {
          metrics.dropped('invalid');
          this.connection.closeConnection(DocumentCloseCode.InvalidUpdate, 'malformed awareness update');
        } else if (result === 'awareness_owner') metrics.dropped('awareness_owner');
        return;
      }
      case 'query-awareness': {
        const states = doc.aware.encoded();
        if (states) this.peer.send(encodeAwareness(states));
        return;
      }
    }
  }

  #presenceOf(): AwarenessPresence {
    if (!this.#presence) {
      const member = { client: this.peer.id, user: this.#user as string, info: this.#info };
      this.#presence = new AwarenessPresence(this.rt.node, this.#resolved() as ResolvedChannel, member, this.rt.node.logger);
    }
    return this.#presence;
  }

  /** Acknowledge once everything queued so far is stored, in order (a no-op without acknowledgements). */
  #ack(applied: boolean): void {
    const ack = this.dialect.ack;
    const doc = this.#doc;
    if (!ack || !doc) return;
    const stored = doc.whenStored();
    this.#acks = this.#acks
      .then(() => stored)
      .then(() => {
        if (!this.#closed) ack(applied);
      });
  }

  /** The connection (or this document's part of it) ended: awareness states go, the document may unload. */
  release(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#early = null;
    void this.#presence?.close();
    this.#presence = null;
    this.#doc?.leave(this.peer);
    this.#doc = null;
  }
}

/**
 * A documents connection's message rate (`documents.messagesPerSecond`, burst 2x), over all
 * its documents. Beyond it an awareness message is dropped (the next one carries the same
 * state), while a sync message closes the connection as a flood (3007): dropping an
 * update would leave the provider believing it was applied, and a reconnect makes it sync
 * again with nothing lost.
 */
export class FloodGuard {
  readonly #bucket: TokenBucket;

  constructor(ratePerSecond: number) {
    this.#bucket = new TokenBucket(ratePerSecond, ratePerSecond * 2);
  }

  /** 'ok', 'drop' (awareness over the rate) or 'close' (a sync message over it). */
  admit(data: Uint8Array): 'ok' | 'drop' | 'close' {
    if (this.#bucket.take()) return 'ok';
    return data[0] === Y_MESSAGE.awareness || data[0] === Y_MESSAGE.queryAwareness ? 'drop' : 'close';
  }
}

/** Messages a connection may send for a document before it is open. */
const MAX_EARLY_MESSAGES = 64;
