import type { DisconnectInfo } from '@switchboard/protocol';
import type { Logger } from 'pino';
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness';
import * as Y from 'yjs';
import type { DocumentSettings } from './config.js';
import type { DocumentMetrics } from './metrics.js';
import type { DocumentStore, StoredDocument } from './store.js';
import { applyChecked } from './update-check.js';
import { type AwarenessEntry, decodeAwareness, encodeAwareness, encodeUpdate } from './y-websocket-codec.js';

/** One connection's side of an open document: how the document reaches it. */
export interface DocumentPeer {
  readonly id: string;
  /** Send one encoded message (the same Buffer to every peer: framed once). */
  send(message: Buffer): void;
  /**
   * The document is gone for this peer: discarded after a broken update (4205 Reset: the
   * provider reconnects and syncs again) or deleted (4404 Deleted).
   */
  end(info: DisconnectInfo): void;
}

/** What applying a client's update came to. */
export type ApplyResult = 'applied' | 'invalid' | 'too-large';

/** An acknowledgement waiting for the updates queued before it to be written. */
interface StoreWaiter {
  upTo: number;
  resolve: () => void;
}

/** Most clients one awareness message may name. */
const MAX_AWARENESS_ENTRIES = 64;
/** Backoff of a failed write of the log: doubling from 200 ms to 30 s. */
const RETRY_MIN = 200;
const RETRY_MAX = 30_000;

export interface LiveDocumentDeps {
  store: DocumentStore;
  settings: DocumentSettings;
  compactAfter: number;
  metrics: DocumentMetrics;
  logger: Logger;
  /** Called when the document may be unloadable (no peer, nothing to store). */
  idle(doc: LiveDocument): void;
  /** Called when an apply failed halfway: the document must be discarded (its peers reconnect and it reloads). */
  broken(doc: LiveDocument): void;
  /** Called after a write of `updates` changes committed. */
  stored(doc: LiveDocument, updates: number): void;
}

/**
 * A document loaded on this node: its Yjs state, its awareness, the peers that have it
 * open, and the updates not yet in its durable log. Updates are relayed to the other peers
 * at once and written to the log in one transaction per event-loop turn (a group commit);
 * a failed write keeps them queued and retries with backoff, and the document cannot be
 * unloaded while anything is queued or being written.
 */
export class LiveDocument {
  readonly doc = new Y.Doc({ gc: true });
  readonly awareness: Awareness;
  readonly peers = new Set<DocumentPeer>();
  /** Stored bytes plus queued ones: what the size limit counts. */
  bytes: number;
  #logCount: number;
  #queued: Uint8Array[] = [];
  /** Updates queued and written since load: `whenStored` waits for the count it saw. */
  #queuedTotal = 0;
  #storedTotal = 0;
  #storeWaiters: StoreWaiter[] = [];
  #writing: Promise<void> | null = null;
  #flushScheduled = false;
  #retryDelay = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #compacting = false;
  #destroyed = false;
  /** Updates emitted by the apply in progress, with their origins. */
  #held: Array<[Uint8Array, unknown]> | null = null;
  /** An apply failed halfway: the document is being discarded and reloaded from the store. */
  #broken = false;
  /** Users whose changes went in since the last version; `#authorsChanged`: not yet written with the log. */
  readonly #authors: Set<string>;
  #authorsChanged = false;
  /** When the last version was taken (Unix ms; 0: none, or not looked up). */
  lastVersionAt = 0;
  /** Awareness client ids by the peer that introduced them: a peer sets only its own. */
  readonly #owners = new Map<number, DocumentPeer>();
  readonly #owned = new Map<DocumentPeer, Set<number>>();

  constructor(
    readonly tenant: string,
    readonly channel: string,
    stored: StoredDocument | null,
    private readonly deps: LiveDocumentDeps,
  ) {
    if (stored) {
      if (stored.snapshot.byteLength > 0) Y.applyUpdate(this.doc, stored.snapshot);
      for (const update of stored.updates) Y.applyUpdate(this.doc, update);
    }
    this.bytes = stored?.bytes ?? 0;
    this.#authors = new Set(stored?.authors ?? []);
    this.#logCount = stored?.logCount ?? 0;
    this.doc.on('update', this.#onUpdate);
    this.awareness = new Awareness(this.doc);
    this.awareness.setLocalState(null);
    this.awareness.on('update', this.#onAwareness);
  }

  /**
   * The users whose changes went in since the last version, for a version taken now: the
   * list starts again empty (the version's transaction empties the stored one too).
   */
  takeAuthors(): string[] {
    const authors = [...this.#authors].sort();
    this.#authors.clear();
    this.#authorsChanged = false;
    return authors;
  }

  get settings(): DocumentSettings {
    return this.deps.settings;
  }

  get key(): string {
    return `${this.tenant}|${this.channel}`;
  }

  /** Whether the document holds nothing unstored and no peer: it may be unloaded. */
  get idle(): boolean {
    return this.peers.size === 0 && this.#queued.length === 0 && this.#writing === null && !this.#compacting;
  }

  join(peer: DocumentPeer): void {
    this.peers.add(peer);
  }

  /** A peer closed: its awareness states are removed at once, for everyone. */
  leave(peer: DocumentPeer): void {
    if (!this.peers.delete(peer)) return;
    const owned = this.#owned.get(peer);
    if (owned) {
      this.#owned.delete(peer);
      for (const id of owned) this.#owners.delete(id);
      removeAwarenessStates(this.awareness, [...owned], 'left');
    }
    if (this.idle) this.deps.idle(this);
  }

  /**
   * Apply a client's update. Refused whole, before anything changes: above the document's
   * size limit ('too-large'), or not a well-formed Yjs update ('invalid': it is decoded
   * completely before it is applied), or one whose missing dependencies would keep more
   * than `maxUpdateBytes` waiting (also 'invalid').
   */
  apply(update: Uint8Array, from: DocumentPeer | null, author: string | null = null): ApplyResult {
    if (this.bytes + update.byteLength > this.deps.settings.maxDocumentBytes) return 'too-large';
    if (this.#broken) return 'invalid';
    // What the apply emits is held until it is known whole: a broken apply's part is neither relayed nor stored.
    this.#held = [];
    const result = applyChecked(this.doc, update, from, this.deps.settings.maxUpdateBytes);
    const held = this.#held;
    this.#held = null;
    if (result === 'broken') {
      this.#broken = true;
      this.deps.broken(this);
      return 'invalid';
    }
    for (const [u, origin] of held) this.#emit(u, origin);
    if (held.length > 0 && author !== null && !this.#authors.has(author)) {
      this.#authors.add(author);
      this.#authorsChanged = true;
    }
    return result === 'pending-over-cap' ? 'invalid' : result;
  }

  /** The document's state vector (sync step 1). */
  stateVector(): Uint8Array {
    return Y.encodeStateVector(this.doc);
  }

  /** What a peer with state vector `sv` lacks (sync step 2); null when `sv` is malformed. */
  diff(sv: Uint8Array): Uint8Array | null {
    try {
      Y.decodeStateVector(sv);
      return Y.encodeStateAsUpdate(this.doc, sv);
    } catch {
      return null;
    }
  }

  /** Every awareness state, encoded (answer to a query, and the first thing a peer gets). */
  awarenessStates(): Uint8Array | null {
    const ids = [...this.awareness.getStates().keys()];
    return ids.length === 0 ? null : encodeAwarenessUpdate(this.awareness, ids);
  }

  /**
   * Apply a peer's awareness update: 'invalid' when malformed, 'awareness_owner' when it
   * names a client id another peer introduced (nothing applied).
   */
  applyAwareness(update: Uint8Array, from: DocumentPeer): 'applied' | 'invalid' | 'awareness_owner' {
    let entries: AwarenessEntry[];
    try {
      entries = decodeAwareness(update, MAX_AWARENESS_ENTRIES);
    } catch {
      return 'invalid';
    }
    for (const e of entries) {
      const owner = this.#owners.get(e.clientId);
      if (owner !== undefined && owner !== from) return 'awareness_owner';
    }
    let owned = this.#owned.get(from);
    if (!owned) {
      owned = new Set();
      this.#owned.set(from, owned);
    }
    for (const e of entries) {
      this.#owners.set(e.clientId, from);
      owned.add(e.clientId);
    }
    applyAwarenessUpdate(this.awareness, update, from);
    return 'applied';
  }

  /** Write what is queued now (also what `stop` awaits). */
  flush(): Promise<void> {
    if (this.#writing) return this.#writing;
    if (this.#queued.length === 0 || this.#destroyed) return Promise.resolve();
    const batch = this.#queued;
    this.#queued = [];
    const authors = this.#authorsChanged ? [...this.#authors] : undefined;
    this.#authorsChanged = false;
    this.#writing = this.deps.store
      .append(this.tenant, this.channel, batch, authors)
      .then(
        () => {
          this.#retryDelay = 0;
          this.#logCount += batch.length;
          this.#storedTotal += batch.length;
          this.#wakeStoreWaiters();
          this.deps.stored(this, batch.length);
        },
        (err: unknown) => {
          this.deps.metrics.storeFailed();
          this.#queued = batch.concat(this.#queued);
          if (authors) this.#authorsChanged = true;
          this.#retryDelay = Math.min(RETRY_MAX, Math.max(RETRY_MIN, this.#retryDelay * 2));
          this.deps.logger.warn({ err, channel: this.channel, updates: batch.length, retryIn: this.#retryDelay }, 'storing document updates failed');
        },
      )
      .finally(() => {
        this.#writing = null;
        this.#afterWrite();
      });
    return this.#writing;
  }

  /**
   * Resolves once every update queued so far is in the durable log (at once without
   * persistence, or when nothing is queued): what an acknowledgement waits for. While
   * writes fail it stays pending, so the client keeps counting the change as unsaved.
   */
  whenStored(): Promise<void> {
    if (this.#storedTotal >= this.#queuedTotal) return Promise.resolve();
    const upTo = this.#queuedTotal;
    return new Promise((resolve) => this.#storeWaiters.push({ upTo, resolve }));
  }

  #wakeStoreWaiters(): void {
    if (this.#storeWaiters.length === 0) return;
    const still: StoreWaiter[] = [];
    for (const w of this.#storeWaiters) {
      if (w.upTo <= this.#storedTotal) w.resolve();
      else still.push(w);
    }
    this.#storeWaiters = still;
  }

  /** Whether an update holds nothing this document lacks (a read-only client's resync). */
  holds(update: Uint8Array): boolean {
    try {
      return Y.snapshotContainsUpdate(Y.snapshot(this.doc), update);
    } catch {
      return false;
    }
  }

  #afterWrite(): void {
    if (this.#destroyed) return;
    if (this.#queued.length > 0) {
      if (this.#retryDelay > 0) {
        this.#retryTimer ??= setTimeout(() => {
          this.#retryTimer = null;
          void this.flush();
        }, this.#retryDelay);
      } else void this.flush();
      return;
    }
    if (this.#logCount >= this.deps.compactAfter && !this.#compacting) void this.#compact();
    else if (this.idle) this.deps.idle(this);
  }

  async #compact(): Promise<void> {
    this.#compacting = true;
    try {
      const done = await this.deps.store.compact(this.tenant, this.channel, mergeSnapshot);
      this.#logCount = Math.max(0, this.#logCount - done.folded);
      this.bytes = Math.max(0, this.bytes - (done.before - done.after));
      if (done.folded > 0) this.deps.metrics.compacted();
    } catch (err) {
      this.deps.logger.warn({ err, channel: this.channel }, 'compacting a document failed');
    } finally {
      this.#compacting = false;
      if (this.idle) this.deps.idle(this);
    }
  }

  readonly #onUpdate = (update: Uint8Array, origin: unknown): void => {
    if (this.#held) this.#held.push([update, origin]);
    else this.#emit(update, origin);
  };

  #emit(update: Uint8Array, origin: unknown): void {
    const message = encodeUpdate(update);
    for (const peer of this.peers) if (peer !== origin) peer.send(message);
    if (!this.deps.settings.persistence) return;
    this.#queued.push(update);
    this.#queuedTotal++;
    this.bytes += update.byteLength;
    if (!this.#flushScheduled && this.#retryTimer === null) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        void this.flush();
      });
    }
  }

  readonly #onAwareness = (changes: { added: number[]; updated: number[]; removed: number[] }): void => {
    const ids = changes.added.concat(changes.updated, changes.removed);
    if (ids.length === 0 || this.peers.size === 0) return;
    const message = encodeAwareness(encodeAwarenessUpdate(this.awareness, ids));
    for (const peer of this.peers) peer.send(message);
  };

  /**
   * Drop what is queued (the document is being deleted): nothing more is written. Resolves
   * once a write already in flight ended, so the delete comes after it.
   */
  abandon(): Promise<void> {
    this.#destroyed = true;
    this.#queued = [];
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    return this.#writing ?? Promise.resolve();
  }

  /** Forget the document (after it was unloaded, or at stop once flushed). */
  destroy(): void {
    this.#destroyed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.awareness.destroy();
    this.doc.destroy();
  }
}

/** Fold a log into a snapshot through a fresh document: one update, collected (GC) like the live one. */
function mergeSnapshot(snapshot: Uint8Array, updates: Uint8Array[]): Uint8Array {
  const doc = new Y.Doc({ gc: true });
  try {
    if (snapshot.byteLength > 0) Y.applyUpdate(doc, snapshot);
    for (const u of updates) Y.applyUpdate(doc, u);
    const parts = [Y.encodeStateAsUpdate(doc)];
    // Structs still waiting for what they depend on are kept, not dropped by the fold.
    const pending = doc.store.pendingStructs;
    if (pending) parts.push(pending.update);
    if (doc.store.pendingDs) parts.push(doc.store.pendingDs);
    return parts.length === 1 ? (parts[0] as Uint8Array) : Y.mergeUpdates(parts);
  } finally {
    doc.destroy();
  }
}
