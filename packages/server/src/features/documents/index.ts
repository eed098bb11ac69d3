import { ErrorCode } from '@switchboard/protocol';
import type { NodeContext } from '../../core/context.js';
import { TimerWheel } from '../../core/timer-wheel.js';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import type { DocumentsRuntime } from './binding.js';
import { type DocumentsConfig, documentSettings, documentsConfig, documentsNamespaceOption } from './config.js';
import { DocumentCensus } from './document-census.js';
import { Documents, type DocumentsCluster } from './documents.js';
import { documentUpdated } from './events.js';
import { HocuspocusSession } from './hocuspocus-session.js';
import { DocumentHooks } from './hooks.js';
import { KeepAlive } from './keepalive.js';
import { documentMetrics } from './metrics.js';
import { DOCUMENT_MIGRATIONS } from './migrations.js';
import type { LockService } from './part-locks.js';
import { DocumentRelay } from './relay.js';
import { documentRoutes } from './routes.js';
import { SdkDocuments } from './sdk-documents.js';
import { DocumentStore } from './store.js';
import { VersionStore } from './version-store.js';
import { chooseProtocol, YWebsocketSession } from './y-websocket-session.js';

/** The documents feature's WebSocket path: y-websocket providers open `/documents/<document name>`. */
/** Tick of the wheel that holds the documents connections' token deadlines (a token expires at most this late). */
const TOKEN_TICK_MS = 50;

export const DOCUMENTS_PATH = '/documents';
/** Room for a message's type and length prefixes around the largest update. */
const FRAMING_BYTES = 64;
/** Every node tells the others it is there this often, so a relay lost while nothing changes is noticed within it. */
const RELAY_TICK_MS = 2000;
/** The demo workspace's documents: at most 1 MiB each, updates of at most 64 KiB (a paste of a page or two). */
const DEMO_DOCUMENT_BYTES = 1024 * 1024;
const DEMO_UPDATE_BYTES = 64 * 1024;

/**
 * Collaborative Yjs documents served on the server's own port, under its tenants, tokens
 * and capabilities: a y-websocket provider (and any editor binding on it) syncs with
 * `ws://host:7070/documents/<name>`. Documents are channels of namespaces with the
 * `documents` option (`doc` by default), stored in the durable store (a snapshot plus a log
 * of updates, compacted). See docs/documents.md.
 */
export function documentsFeature(): FeatureModule<DocumentsConfig, DocumentsRuntime> {
  const sdk = new SdkDocuments(() => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'documents are starting');
    return running.rt;
  });
  let running: {
    rt: DocumentsRuntime;
    documents: Documents;
    versions: VersionStore;
    census: DocumentCensus;
    relay: DocumentRelay;
    offLocks: () => void;
  } | null = null;

  return defineFeature({
    name: 'documents',
    dependsOn: ['locks'],
    config: { schema: documentsConfig, description: 'collaborative Yjs documents (y-websocket providers)' },
    namespaceOption: {
      schema: documentsNamespaceOption,
      description: 'the channels are Yjs documents: true, or an object overriding documents.* limits, awareness and persistence for this namespace',
    },
    namespaces: {
      doc: { documents: true, historySize: 0, clientPublish: false },
      // The console's demo workspace has a shared note (`demo:notes`): small limits, as anyone may write there.
      demo: { documents: { maxDocumentBytes: DEMO_DOCUMENT_BYTES, maxUpdateBytes: DEMO_UPDATE_BYTES } },
    },
    migrations: DOCUMENT_MIGRATIONS,
    events: [documentUpdated],
    commands: sdk.commands(),
    hooks: {
      onDisconnect({ client }) {
        sdk.closeAll(client.id);
      },
    },
    routes: () =>
      documentRoutes(() => {
        if (!running) throw new ReplyError(ErrorCode.Unavailable, 'documents are starting');
        return { documents: running.documents, versions: running.versions, census: running.census, config: running.rt.config };
      }),
    endpoints: (config) => [
      {
        path: DOCUMENTS_PATH,
        subpaths: true,
        binary: true,
        subprotocols: chooseProtocol,
        maxMessageBytes: config.maxUpdateBytes + FRAMING_BYTES,
        // y-websocket names the document in the path; Hocuspocus opens the path itself and names documents in its messages.
        open: (connection, request, rt) =>
          request.subpath === '' ? new HocuspocusSession(connection, request, rt) : new YWebsocketSession(connection, request, rt),
      },
    ],
    start(ctx) {
      const metrics = documentMetrics(ctx.node.metricsRegistry);
      const store = new DocumentStore(ctx.storage, () => ctx.node.now());
      const versions = new VersionStore(ctx.storage, () => ctx.node.now());
      const locks = ctx.feature<LockService>('locks');
      const hooks = new DocumentHooks(ctx.logger);
      const cluster: DocumentsCluster = { nodeId: ctx.node.id, leases: ctx.node.leases, relay: null, locks, hooks };
      const documents = new Documents(
        store,
        () => ctx.config,
        metrics,
        ctx.logger,
        ctx.events,
        versions,
        () => ctx.node.now(),
        cluster,
      );
      cluster.relay = new DocumentRelay(
        ctx.node.messages,
        {
          loaded: (t, c) => documents.loaded(t, c),
          all: () => documents.all(),
          deletedElsewhere: (t, c) => documents.deletedElsewhere(t, c),
          lockChanged: (t, c, k, user) => documents.lockChanged(t, c, k, user),
          refreshLocks: () => documents.refreshLocks(),
        },
        metrics,
        ctx.logger,
        RELAY_TICK_MS,
      );
      // This node's grants and releases: its loaded documents follow them at once, the other nodes through the relay.
      const relay = cluster.relay;
      const offLocks = locks.on((e) => {
        const user = e.type === 'acquired' ? e.lock.holder.user : null;
        documents.lockChanged(e.tenant, e.channel, e.lock.key, user);
        if (guardsParts(ctx.node, ctx.config, e.tenant, e.channel)) relay.lock(e.tenant, e.channel, e.lock.key, user);
      });
      const census = new DocumentCensus(ctx.node.surveys, ctx.node.messages.nodeId, documents);
      const keepAlive = new KeepAlive();
      const timers = new TimerWheel(TOKEN_TICK_MS, 1024, Date.now, (err) => ctx.logger.warn({ err }, 'a documents token deadline failed'));
      timers.start();
      const rt: DocumentsRuntime = {
        node: ctx.node,
        documents,
        config: ctx.config,
        metrics,
        keepAlive,
        timers,
        hooks,
        onAuthorizeDocument: (hook) => hooks.onAuthorizeDocument(hook),
        onLoadDocument: (hook) => hooks.onLoadDocument(hook),
        onChange: (hook) => hooks.onChange(hook),
        onStoreDocument: (hook) => hooks.onStoreDocument(hook),
        beforeBroadcast: (hook) => hooks.beforeBroadcast(hook),
      };
      running = { rt, documents, versions, census, relay, offLocks };
      return rt;
    },
    async stop() {
      running?.rt.keepAlive.stop();
      running?.rt.timers.stop();
      running?.census.close();
      running?.relay.close();
      running?.offLocks();
      await running?.documents.stop();
      running = null;
    },
  });
}

/** Whether a channel is a document whose namespace guards parts with locks (`lockedParts`). */
function guardsParts(node: NodeContext, config: DocumentsConfig, tenant: string, channel: string): boolean {
  try {
    const ch = node.resolve(tenant, channel);
    return documentSettings(config, ch.options['documents'])?.lockedParts != null;
  } catch {
    return false;
  }
}
