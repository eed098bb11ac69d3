import { createHash, randomBytes } from 'node:crypto';
import { DocumentCloseCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import * as Y from 'yjs';
import type { ResolvedChannel } from '../../core/channels.js';
import type { LeaseStoreView } from '../../core/context.js';
import type { FeatureEvents } from '../events.js';
import type { DocumentSettings, DocumentsConfig } from './config.js';
import { documentUpdated } from './events.js';
import type { DocumentHooks } from './hooks.js';
import { type DocumentPeer, LiveDocument, type LiveDocumentDeps } from './live-document.js';
import type { DocumentMetrics } from './metrics.js';
import type { LockService } from './part-locks.js';
import type { DocumentRelay } from './relay.js';
import type { Compaction, DocumentStore, Fold } from './store.js';
import type { VersionInfo, VersionStore } from './version-store.js';

/** How long a compaction's lease is held (a holder that dies frees it after this). */
const COMPACT_LEASE_MS = 60_000;
const NOTHING_FOLDED: Compaction = { folded: 0, foldedBytes: 0, before: 0, after: 0 };
/** Longest time a stop waits for the compactions in flight (one held up longer is left to finish or fail). */
const STOP_COMPACTIONS_MS = 5_000;

/** What the documents of a node share with the other nodes: leases, and the relay of changes (set once started). */
export interface DocumentsCluster {
  readonly nodeId: string;
  readonly leases: LeaseStoreView;
  relay: DocumentRelay | null;
  /** The lock service, for documents whose namespace guards parts with locks. */
  readonly locks: LockService;
  /** The embedding app's hooks. */
  readonly hooks: DocumentHooks;
}

/** What every loaded document of a node shares: its documents' per-document dependencies take it as their prototype. */
type SharedDeps = Omit<LiveDocumentDeps<LiveDocument>, 'settings' | 'compactAfter' | 'compactInterval' | 'groupCommit' | 'sendWindow' | 'clustered'>;

/**
 * The documents loaded on this node. A document is loaded once however many peers open it
 * at once (they share one load), and unloaded `idleUnload` after its last peer left, once
 * nothing is queued or being written: a peer that opens it meanwhile keeps it, and one
 * that opens it after the unload loads it again from the store, whole.
 */
export class Documents {
  readonly #live = new Map<string, LiveDocument>();
  readonly #loading = new Map<string, Promise<LiveDocument>>();
  readonly #unloads = new Map<string, NodeJS.Timeout>();
  readonly #discarding = new Map<string, Promise<void>>();
  /** Changes stored since the last `document.updated` of each document, while its debounce runs. */
  readonly #announcing = new Map<string, { updates: number }>();
  /** Documents whose automatic version is being taken. */
  readonly #versioning = new Set<string>();
  /** Compactions in flight: a stop waits for them before the storage closes. */
  readonly #compactions = new Set<Promise<Compaction>>();
  #stopped = false;
  /** The sweep that hibernates documents nobody used for `hibernateAfter` (null: off). */
  readonly #hibernation: NodeJS.Timeout | null;
  /** What every loaded document is given, made once (a document's own deps add its settings to it). */
  readonly #shared: SharedDeps;
  /** The last dependencies made per settings object: documents of a namespace share them while the configuration stays the same. */
  readonly #depsMade = new WeakMap<DocumentSettings, LiveDocumentDeps<LiveDocument>>();

  constructor(
    readonly store: DocumentStore,
    private readonly config: () => DocumentsConfig,
    private readonly metrics: DocumentMetrics,
    private readonly logger: Logger,
    private readonly events: FeatureEvents,
    private readonly versions: VersionStore,
    private readonly now: () => number,
    private readonly cluster: DocumentsCluster,
  ) {
    this.#shared = {
      store: this.store,
      metrics: this.metrics,
      logger: this.logger,
      hooks: this.cluster.hooks,
      idle: (d) => this.#scheduleUnload(d),
      broken: (d) => this.#discard(d),
      stored: (d, entries, range, count, indices) => {
        this.cluster.relay?.stored(d, entries, range, indices);
        this.cluster.hooks.store({ tenant: d.tenant, name: d.channel, updates: count, from: range.from, to: range.to });
        this.#announce(d, count);
      },
      relay: (d, updates) => this.cluster.relay?.unstored(d, updates),
      relayEarly: (d, updates, after) => this.cluster.relay?.early(d, updates, after) ?? true,
      relayAwareness: (d, update, user) => this.cluster.relay?.awareness(d, update, user),
      compact: (d, fold) => this.#compact(d, fold),
    };
    // One timer for every document: a document untouched over a whole period hibernates at the next tick.
    const every = config().hibernateAfter;
    this.#hibernation = every > 0 ? setInterval(() => this.#hibernate(), every) : null;
    this.#hibernation?.unref();
  }

  /** Hold every document nobody used since the last sweep as its encoded state (see LiveDocument.hibernate). */
  #hibernate(): void {
    for (const doc of this.#live.values()) doc.hibernate();
  }

  /** Every document loaded on this node. */
  all(): Iterable<LiveDocument> {
    return this.#live.values();
  }

  get loadedCount(): number {
    return this.#live.size;
  }

  /** The loaded document of a channel, if any (no load). */
  loaded(tenant: string, channel: string): LiveDocument | undefined {
    return this.#live.get(`${tenant}|${channel}`);
  }

  /**
   * Open a document for a peer: loaded (or loading) ones are shared. The peer has joined
   * when this resolves, so the document cannot be unloaded under it.
   */
  async open(ch: ResolvedChannel, settings: DocumentSettings, peer: DocumentPeer): Promise<LiveDocument> {
    const doc = await this.#get(ch, settings);
    this.#cancelUnload(doc.key);
    doc.join(peer);
    return doc;
  }

  #get(ch: ResolvedChannel, settings: DocumentSettings): Promise<LiveDocument> {
    const key = ch.key;
    const live = this.#live.get(key);
    if (live) return Promise.resolve(live);
    const loading = this.#loading.get(key);
    if (loading) return loading;
    // A discarded document loads again once what it had queued is written.
    const after = this.#discarding.get(key) ?? Promise.resolve();
    const load = after
      .then(() => (settings.persistence ? this.store.load(ch.tenant, ch.channel) : null))
      .then(async (stored) => {
        // Who holds which part is known before the first update is applied.
        const held = settings.lockedParts ? await this.cluster.locks.list(ch.tenant, ch.channel) : [];
        if (this.#stopped) throw new Error('documents are stopping');
        const doc = new LiveDocument(ch.tenant, ch.channel, stored, this.#depsFor(settings));
        doc.partLocks?.reset(held.map((l) => ({ key: l.key, user: l.holder.user })));
        if (stored === null) await this.#seed(doc);
        this.#live.set(key, doc);
        this.metrics.loaded(1);
        // What other nodes logged between the read and now (their relays found no document here) is read once more.
        if (settings.persistence) void doc.catchUp();
        this.cluster.relay?.loaded(doc);
        return doc;
      })
      .finally(() => this.#loading.delete(key));
    this.#loading.set(key, load);
    return load;
  }

  /**
   * An update broke the document halfway through its integration: it is dropped from
   * memory at once (what it emitted since load is queued or stored; the broken part was
   * neither), its peers are closed to reconnect and sync again, and the next open loads it
   * from the store once its queue is written.
   */
  #discard(doc: LiveDocument): void {
    if (this.#live.get(doc.key) !== doc) return;
    this.#live.delete(doc.key);
    this.#cancelUnload(doc.key);
    this.metrics.loaded(-1);
    this.logger.warn({ channel: doc.channel, tenant: doc.tenant }, 'an update broke a document halfway: it is reloaded from the store');
    const done = doc
      .flush()
      .then(() => doc.flush())
      .finally(() => {
        if (this.#discarding.get(doc.key) === done) this.#discarding.delete(doc.key);
        doc.destroy();
      });
    this.#discarding.set(doc.key, done);
    for (const peer of [...doc.peers]) peer.end(DocumentCloseCode.Reset);
  }

  /**
   * Run `fn` on a document for the HTTP API: loaded (or shared with its connections) while
   * `fn` runs, then left to unload like any other.
   */
  #depsFor(settings: DocumentSettings): LiveDocumentDeps<LiveDocument> {
    const { compactAfter, compactInterval, groupCommit, sendWindow } = this.config();
    const clustered = this.cluster.relay !== null && !this.cluster.relay.alone;
    const made = this.#depsMade.get(settings);
    if (
      made?.compactAfter === compactAfter &&
      made.compactInterval === compactInterval &&
      made.groupCommit === groupCommit &&
      made.sendWindow === sendWindow &&
      made.clustered === clustered
    )
      return made;
    // The shared part by prototype, not copied: a copy of its 11 properties plus these 6 gave
    // each document an object of its own shape (~0.6 KB of heap per loaded document).
    const deps: LiveDocumentDeps<LiveDocument> = Object.assign(Object.create(this.#shared) as SharedDeps, {
      settings,
      compactAfter,
      compactInterval,
      groupCommit,
      sendWindow,
      clustered,
    });
    this.#depsMade.set(settings, deps);
    return deps;
  }

  async use<T>(ch: ResolvedChannel, settings: DocumentSettings, fn: (doc: LiveDocument) => T | Promise<T>): Promise<T> {
    const peer: DocumentPeer = { id: `api:${randomBytes(6).toString('hex')}`, send() {}, end() {} };
    const doc = await this.open(ch, settings, peer);
    try {
      return await fn(doc);
    } finally {
      doc.leave(peer);
    }
  }

  /**
   * Delete a document: its connections on this node are closed (4404), what it had queued
   * is dropped, and its rows are deleted once a write in flight ended; an open meanwhile
   * waits and then finds no document. False when there was none.
   */
  async delete(ch: ResolvedChannel): Promise<boolean> {
    const key = ch.key;
    await this.#loading.get(key)?.catch(() => undefined);
    const prior = this.#discarding.get(key) ?? Promise.resolve();
    const live = this.#live.get(key);
    if (live) {
      this.#live.delete(key);
      this.#cancelUnload(key);
      this.metrics.loaded(-1);
    }
    const deleting = (async () => {
      await prior;
      if (live) {
        await live.abandon();
        for (const peer of [...live.peers]) peer.end(DocumentCloseCode.Deleted);
        live.destroy();
      }
      const existed = await this.store.delete(ch.tenant, ch.channel);
      this.cluster.relay?.deleted(ch.tenant, ch.channel);
      return existed;
    })();
    const settled = deleting.then(
      () => undefined,
      () => undefined,
    );
    this.#discarding.set(key, settled);
    try {
      // A document that is not stored exists while it is loaded; a stored one exists when it had rows.
      return (await deleting) || (live !== undefined && !live.settings.persistence);
    } finally {
      if (this.#discarding.get(key) === settled) this.#discarding.delete(key);
    }
  }

  /**
   * A document the store has nothing for: the embedding app's load hooks fill it. They write
   * into a scratch document whose client id comes from the document's name, so nodes that
   * load the same new document at once make the same changes, which Yjs merges as one.
   */
  async #seed(doc: LiveDocument): Promise<void> {
    const scratch = new Y.Doc();
    scratch.clientID = seedClient(doc.key);
    try {
      await this.cluster.hooks.load({ tenant: doc.tenant, name: doc.channel, doc: scratch });
      const update = Y.encodeStateAsUpdate(scratch);
      if (update.byteLength > 2 && doc.apply(update, null) !== 'applied')
        throw new Error('the seed of a document could not be applied (too large or malformed)');
    } finally {
      scratch.destroy();
    }
  }

  /** A lock on a key of a document channel was granted (`user`) or released (null), here or on another node. */
  lockChanged(tenant: string, channel: string, key: string, user: string | null): void {
    this.#live.get(`${tenant}|${channel}`)?.partLocks?.set(key, user);
  }

  /** Read again who holds which part of every loaded document that guards parts (after lock news may have been missed). */
  async refreshLocks(): Promise<void> {
    for (const doc of [...this.#live.values()]) {
      if (!doc.partLocks) continue;
      try {
        const held = await this.cluster.locks.list(doc.tenant, doc.channel);
        doc.partLocks.reset(held.map((l) => ({ key: l.key, user: l.holder.user })));
      } catch (err) {
        this.logger.warn({ err, channel: doc.channel }, 'reading the locks of a document failed');
      }
    }
  }

  /** Another node deleted a document: this node's copy is dropped (nothing it queued is written) and its peers are closed (4404). */
  deletedElsewhere(tenant: string, channel: string): void {
    const key = `${tenant}|${channel}`;
    const live = this.#live.get(key);
    if (!live) return;
    this.#live.delete(key);
    this.#cancelUnload(key);
    this.metrics.loaded(-1);
    void live.abandon().finally(() => {
      for (const peer of [...live.peers]) peer.end(DocumentCloseCode.Deleted);
      live.destroy();
    });
  }

  /**
   * Compact under a lease, so one node at a time folds a document's log; its fencing token
   * goes with the write, so a holder whose lease ran out while it worked changes nothing
   * after a later one. Nothing is folded while another node holds it, nor once the node is
   * stopping (a write after the next load folds it).
   */
  #compact(doc: LiveDocument, fold: Fold): Promise<Compaction> {
    if (this.#stopped) return Promise.resolve(NOTHING_FOLDED);
    const running = this.#compactUnderLease(doc, fold);
    this.#compactions.add(running);
    const done = () => this.#compactions.delete(running);
    running.then(done, done);
    return running;
  }

  async #compactUnderLease(doc: LiveDocument, fold: Fold): Promise<Compaction> {
    const key = `compact/${doc.key}`;
    const token = await this.cluster.leases.acquire(key, COMPACT_LEASE_MS, this.cluster.nodeId);
    if (token === null) return NOTHING_FOLDED;
    try {
      return await this.store.compact(doc.tenant, doc.channel, fold, token);
    } finally {
      await this.cluster.leases.release(key, token).catch((err: unknown) => this.logger.debug({ err }, 'a compaction lease was not released'));
    }
  }

  /**
   * `document.updated` for the app's backend: at most one per document per
   * `updateEventDebounce`, after its changes are stored, counting them. Nothing is built
   * when no endpoint wants the type.
   */
  #announce(doc: LiveDocument, updates: number): void {
    if (doc.settings.versionEvery > 0) void this.#autoVersion(doc);
    if (!this.events.wanted(doc.tenant, documentUpdated.type, doc.channel)) return;
    const pending = this.#announcing.get(doc.key);
    if (pending) {
      pending.updates += updates;
      return;
    }
    const entry = { updates };
    this.#announcing.set(doc.key, entry);
    setTimeout(() => {
      this.#announcing.delete(doc.key);
      this.events
        .emit(documentUpdated.type, doc.tenant, { name: doc.channel, bytes: doc.bytes, updates: entry.updates }, { channel: doc.channel })
        .catch((err: unknown) => this.logger.warn({ err, channel: doc.channel }, 'document.updated not recorded'));
    }, this.config().updateEventDebounce).unref();
  }

  /** Keep the document as it is now as a version, with the authors of the changes since the last one. */
  async takeVersion(doc: LiveDocument, label: string | null, createdBy: string | null): Promise<VersionInfo> {
    const snapshot = Y.encodeStateAsUpdate(doc.doc);
    const authors = doc.takeAuthors();
    doc.lastVersionAt = this.now();
    return this.versions.create(doc.tenant, doc.channel, { snapshot, label, createdBy, authors });
  }

  /**
   * A namespace's automatic versions (`versionEvery`): after changes were stored, a version
   * is taken once that long passed since the last one, so a document edited for an hour
   * gets a version every `versionEvery` and an untouched one none.
   */
  async #autoVersion(doc: LiveDocument): Promise<void> {
    if (this.#versioning.has(doc.key)) return;
    this.#versioning.add(doc.key);
    try {
      if (doc.lastVersionAt === 0) doc.lastVersionAt = (await this.versions.latestAt(doc.tenant, doc.channel)) || this.now();
      if (this.now() - doc.lastVersionAt < doc.settings.versionEvery) return;
      await this.takeVersion(doc, 'automatic', null);
    } catch (err) {
      this.logger.warn({ err, channel: doc.channel }, 'an automatic version failed');
    } finally {
      this.#versioning.delete(doc.key);
    }
  }

  #scheduleUnload(doc: LiveDocument): void {
    if (this.#stopped || this.#live.get(doc.key) !== doc || this.#unloads.has(doc.key)) return;
    const timer = setTimeout(() => {
      this.#unloads.delete(doc.key);
      if (!doc.idle || this.#live.get(doc.key) !== doc) return;
      this.#live.delete(doc.key);
      this.metrics.loaded(-1);
      doc.destroy();
    }, this.config().idleUnload);
    timer.unref();
    this.#unloads.set(doc.key, timer);
  }

  #cancelUnload(key: string): void {
    const timer = this.#unloads.get(key);
    if (timer) clearTimeout(timer);
    this.#unloads.delete(key);
  }

  /**
   * Write what every document has queued and let the compactions in flight end (for at most
   * STOP_COMPACTIONS_MS), then forget them all (the node is stopping): the storage closes after.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#hibernation) clearInterval(this.#hibernation);
    for (const timer of this.#unloads.values()) clearTimeout(timer);
    this.#unloads.clear();
    await Promise.allSettled([...this.#loading.values()]);
    const docs = [...this.#live.values()];
    // Two rounds: an update that arrived while the first write ran is written by the second.
    await Promise.all(docs.map((d) => d.flush()));
    await Promise.all(docs.map((d) => d.flush()));
    await this.#compactionsEnded();
    for (const d of docs) d.destroy();
    this.metrics.loaded(-docs.length);
    this.#live.clear();
  }

  /** Wait for the compactions in flight, for at most STOP_COMPACTIONS_MS (a fold the storage's close cuts short is rolled back: nothing lost). */
  async #compactionsEnded(): Promise<void> {
    if (this.#compactions.size === 0) return;
    this.logger.info({ compactions: this.#compactions.size }, 'stopping: waiting for the document compactions in flight');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), STOP_COMPACTIONS_MS);
    });
    const ended = await Promise.race([Promise.allSettled([...this.#compactions]).then(() => true), late]);
    clearTimeout(timer);
    if (!ended)
      this.logger.warn(
        { compactions: this.#compactions.size, waitedMs: STOP_COMPACTIONS_MS },
        'stopping without the document compactions still running: their logs stay unfolded until a later compaction',
      );
  }
}

/** A client id (Yjs: 32 bits, not 0) from a document's key: the same on every node. */
function seedClient(key: string): number {
  return createHash('sha256').update(`seed|${key}`).digest().readUInt32BE(0) || 1;
}
