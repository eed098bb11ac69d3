import { type DisconnectInfo, ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import type { ResolvedChannel } from '../../core/channels.js';
import { type CommandDefinition, defineCommand } from '../../core/command.js';
import type { SessionContext } from '../../core/context.js';
import { can } from '../../core/permissions.js';
import { ReplyError } from '../../errors/reply-error.js';
import { AwarenessPresence } from './awareness-presence.js';
import type { DocumentsRuntime } from './binding.js';
import { type DocumentSettings, documentSettings } from './config.js';
import type { DocumentPeer, LiveDocument } from './live-document.js';
import { decodeYMessage } from './y-websocket-codec.js';

/** The feature name on the SDK's pushes (`{"push":"feature","feature":"documents",…}`). */
const FEATURE = 'documents';
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const name = z.string().min(1).max(512);

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/**
 * What a relayed message becomes for the SDK, worked out once per message (the same Buffer
 * reaches every peer of a document) rather than once per SDK connection.
 */
const pushes = new WeakMap<Buffer, { event: 'update' | 'awareness'; data: string } | null>();
function pushOf(message: Buffer): { event: 'update' | 'awareness'; data: string } | null {
  let push = pushes.get(message);
  if (push === undefined) {
    const m = decodeYMessage(message);
    push =
      m.kind === 'update' || m.kind === 'sync-step2'
        ? { event: 'update', data: b64(m.update) }
        : m.kind === 'awareness'
          ? { event: 'awareness', data: b64(m.update) }
          : null;
    pushes.set(message, push);
  }
  return push;
}

/** One document an SDK connection has open: a peer of the loaded document whose messages become the connection's pushes. */
class SdkPeer implements DocumentPeer {
  readonly id: string;
  doc: LiveDocument | null = null;
  /** Its place in the channel's presence while it shares awareness. */
  presence: AwarenessPresence | null = null;

  constructor(
    readonly client: SessionContext,
    readonly ch: ResolvedChannel,
    readonly settings: DocumentSettings,
    private readonly gone: (peer: SdkPeer) => void,
  ) {
    this.id = `sdk:${client.id}:${ch.channel}`;
  }

  send(message: Buffer): void {
    const push = pushOf(message);
    if (push) this.client.pushFeature(FEATURE, push.event, { name: this.ch.channel, update: push.data });
  }

  end(info: DisconnectInfo): void {
    this.gone(this);
    this.client.pushFeature(FEATURE, 'closed', { name: this.ch.channel, code: info.code, reason: info.reason });
  }
}

/**
 * Documents opened over the kernel's socket by the SDK (`documents(client).open(name)`),
 * multiplexed with the connection's channels: each is one peer of the loaded document like a
 * provider's connection, under the same capabilities (`subscribe` reads, `publish` writes,
 * `presence` sets awareness), read from the connection's identity at every command, so a
 * refreshed token that drops one takes effect at once. The document's updates and awareness
 * changes reach the connection as `documents` pushes.
 */
export class SdkDocuments {
  /** Open documents by connection, then by name. */
  readonly #open = new Map<string, Map<string, SdkPeer>>();

  constructor(private readonly rt: () => DocumentsRuntime) {}

  commands(): CommandDefinition[] {
    return [
      defineCommand({
        method: 'documents.open',
        params: z.strictObject({ name, stateVector: base64.max(1024 * 1024).optional() }),
        handler: ({ client }, p) => this.#openDocument(client, p.name, p.stateVector),
      }),
      defineCommand({
        method: 'documents.update',
        params: z.strictObject({ name, update: base64 }),
        handler: ({ client }, p) => this.#update(client, p.name, p.update),
      }),
      defineCommand({
        method: 'documents.awareness',
        params: z.strictObject({ name, update: base64.max(64 * 1024) }),
        handler: async ({ client }, p) => this.#awareness(client, p.name, p.update),
      }),
      defineCommand({
        method: 'documents.close',
        params: z.strictObject({ name }),
        handler: async ({ client }, p) => {
          const peer = this.#open.get(client.id)?.get(p.name);
          if (peer) this.#leave(peer);
          return {};
        },
      }),
    ] as CommandDefinition[];
  }

  /** The connection ended: its documents are left (their awareness states go at once). */
  closeAll(client: string): void {
    for (const peer of [...(this.#open.get(client)?.values() ?? [])]) this.#leave(peer);
  }

  async #openDocument(client: SessionContext, docName: string, stateVector: string | undefined) {
    const rt = this.rt();
    const identity = client.identity as Identity;
    const ch = rt.node.resolve(identity.tenant, docName);
    const settings = documentSettings(rt.config, ch.options['documents']);
    if (!settings) throw new ReplyError(ErrorCode.NotAvailable, `"${ch.namespace}" is not a namespace with documents`);
    if (!can(identity, ch, 'subscribe')) throw new ReplyError(ErrorCode.PermissionDenied, `needs the subscribe permission on ${ch.channel}`);
    const allowed = await rt.hooks.authorize({
      tenant: identity.tenant,
      name: ch.channel,
      user: identity.user,
      read: true,
      write: can(identity, ch, 'publish'),
      via: 'sdk',
    });
    if (!allowed) throw new ReplyError(ErrorCode.PermissionDenied, `${ch.channel}: refused by the app`);
    let peers = this.#open.get(client.id);
    let peer = peers?.get(ch.channel);
    if (peer && !peer.doc) throw new ReplyError(ErrorCode.Unavailable, `${ch.channel} is still opening`);
    if (!peer) {
      peer = new SdkPeer(client, ch, settings, (p) => this.#forget(p));
      if (!peers) {
        peers = new Map();
        this.#open.set(client.id, peers);
      }
      peers.set(ch.channel, peer);
      try {
        peer.doc = await rt.documents.open(ch, settings, peer);
      } catch (err) {
        this.#forget(peer);
        if (err instanceof ReplyError) throw err;
        throw rt.node.internalError(err, 'opening a document');
      }
      if (client.closed) {
        this.#leave(peer);
        throw new ReplyError(ErrorCode.Unavailable, 'the connection closed');
      }
    }
    const doc = peer.doc as LiveDocument;
    const diff = doc.diff(stateVector === undefined ? new Uint8Array([0]) : new Uint8Array(Buffer.from(stateVector, 'base64')));
    if (diff === null) throw new ReplyError(ErrorCode.InvalidUpdate, 'malformed state vector');
    const states = doc.aware.encoded();
    return {
      name: ch.channel,
      update: b64(diff),
      stateVector: b64(doc.stateVector()),
      awareness: states ? b64(states) : null,
      writable: can(identity, ch, 'publish'),
    };
  }

  async #update(client: SessionContext, docName: string, encoded: string) {
    const peer = this.#peer(client, docName);
    const doc = peer.doc as LiveDocument;
    const { metrics } = this.rt();
    const identity = client.identity as Identity;
    if (!can(identity, peer.ch, 'publish')) {
      metrics.dropped('read_only');
      throw new ReplyError(ErrorCode.PermissionDenied, `needs the publish permission on ${peer.ch.channel}`);
    }
    if (!client.publishBucket.take()) {
      metrics.dropped('rate');
      throw new ReplyError(ErrorCode.TooManyRequests, 'publish rate per connection');
    }
    const update = new Uint8Array(Buffer.from(encoded, 'base64'));
    if (update.byteLength > peer.settings.maxUpdateBytes) {
      metrics.dropped('too_large');
      throw new ReplyError(ErrorCode.PayloadTooLarge, `update above ${peer.settings.maxUpdateBytes} bytes`);
    }
    const result = doc.apply(update, peer, identity.user);
    if (result === 'invalid') {
      metrics.dropped('invalid');
      throw new ReplyError(ErrorCode.InvalidUpdate, 'not a well-formed Yjs update for this document');
    }
    if (result === 'too-large') {
      metrics.dropped('too_large');
      throw new ReplyError(ErrorCode.PayloadTooLarge, `document above ${peer.settings.maxDocumentBytes} bytes`);
    }
    if (typeof result === 'object') {
      metrics.dropped('locked');
      const err = new ReplyError(ErrorCode.Locked, `${result.locked} is locked by another user: the change was taken back`);
      err.data = { key: result.locked };
      throw err;
    }
    metrics.applied();
    // Answered once stored: the SDK counts the change as unacknowledged until then.
    await doc.whenStored();
    return { stored: true };
  }

  #awareness(client: SessionContext, docName: string, encoded: string) {
    const peer = this.#peer(client, docName);
    const doc = peer.doc as LiveDocument;
    const { metrics } = this.rt();
    const identity = client.identity as Identity;
    if (!peer.settings.awareness || !can(identity, peer.ch, 'presence')) {
      metrics.dropped('awareness_off');
      throw new ReplyError(ErrorCode.PermissionDenied, `awareness needs the presence permission on ${peer.ch.channel}`);
    }
    const result = doc.aware.apply(new Uint8Array(Buffer.from(encoded, 'base64')), peer, identity.user);
    if (result === 'invalid') {
      metrics.dropped('invalid');
      throw new ReplyError(ErrorCode.BadRequest, 'malformed awareness update');
    }
    if (result === 'awareness_owner') {
      metrics.dropped('awareness_owner');
      throw new ReplyError(ErrorCode.PermissionDenied, 'an awareness client id another connection introduced');
    }
    const { node } = this.rt();
    peer.presence ??= new AwarenessPresence(node, peer.ch, { client: peer.id, user: identity.user, info: identity.info }, node.logger);
    peer.presence.changed(doc.aware.statesOf(peer));
    return {};
  }

  #peer(client: SessionContext, docName: string): SdkPeer {
    const identity = client.identity as Identity;
    const ch = this.rt().node.resolve(identity.tenant, docName);
    const peer = this.#open.get(client.id)?.get(ch.channel);
    if (!peer?.doc) throw new ReplyError(ErrorCode.NotSubscribed, `${ch.channel} is not open on this connection (documents.open)`);
    return peer;
  }

  #leave(peer: SdkPeer): void {
    this.#forget(peer);
    peer.doc?.leave(peer);
  }

  #forget(peer: SdkPeer): void {
    void peer.presence?.close();
    peer.presence = null;
    const peers = this.#open.get(peer.client.id);
    if (peers?.get(peer.ch.channel) !== peer) return;
    peers.delete(peer.ch.channel);
    if (peers.size === 0) this.#open.delete(peer.client.id);
  }
}
