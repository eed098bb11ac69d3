import type { DisconnectInfo } from '@switchboard/protocol';
import type { Logger } from 'pino';
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness';
import * as Y from 'yjs';
import type { DocumentSettings } from './config.js';
import type { DocumentHooks } from './hooks.js';
import { rootKind } from './json.js';
import type { DocumentMetrics } from './metrics.js';
import { PeerOutbox } from './outbox.js';
import { PartLocks } from './part-locks.js';
import { mergeSnapshot } from './snapshot.js';
import type { Appended, Compaction, DocumentStore, StoredDocument } from './store.js';
import { applyChecked } from './update-check.js';
import { type AwarenessEntry, decodeAwareness, encodeAwarenessEntries } from './y-websocket-codec.js';

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

/** The origin of an update refused because of a part lock, while it is applied and undone. */
const LOCK_REFUSED = Symbol('lock-refused');

/** The origin of what another node relayed: applied and sent to this node's peers, never stored again nor relayed back. */
export const REMOTE = Symbol('remote');

/** An awareness client id that a peer on another node introduced, with that peer's user. */
interface RemoteOwner {
  node: string;
  user: string | null;
}

/** What applying a client's update came to ('locked': it touches a part another user holds a lock on; nothing applied). */
export type ApplyResult = 'applied' | 'invalid' | 'too-large' | { locked: string };

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
  /** Called after a write of `updates` committed with the numbers `range` (each node that holds the document is told). */
  stored(doc: LiveDocument, updates: Uint8Array[], range: Appended): void;
  /** The embedding app's hooks (onChange, beforeBroadcast), if any. */
  hooks?: DocumentHooks;
  /** Fold the document's log into its snapshot, unless another node is doing it (a lease). */
  compact(doc: LiveDocument, merge: (snapshot: Uint8Array, updates: Uint8Array[]) => Uint8Array): Promise<Compaction>;
  /** Called with this node's changes to a document that is not stored, once per turn (other nodes apply them). */
  relay(doc: LiveDocument, updates: Uint8Array[]): void;
  /** Called with an awareness change made by one of this node's peers (`user`: its user), for the other nodes. */
  relayAwareness(doc: LiveDocument, update: Uint8Array, user: string | null): void;
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
  /** What goes to the peers, once per turn. */
  readonly #outbox = new PeerOutbox(
    this.peers,
    (ids) => encodeAwarenessUpdate(this.awareness, ids),
    () => !this.#destroyed,
  );
  /** The locks on its parts, where its namespace declares `lockedParts` (null: none guarded). */
  readonly partLocks: PartLocks | null;
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
  /** The user whose update is being applied (for the onChange hook); null for the server's own changes. */
  #applying: string | null = null;
  /** Users whose changes went in on this node and are not yet written with the log (or taken by a version). */
  readonly #authors = new Set<string>();
  /** Every update numbered up to this one in the durable log is in `doc`. */
  #seq: number;
  /** A read of the log's tail in progress (another node's updates this node missed), and whether to read again after it. */
  #catchingUp: Promise<void> | null = null;
  #catchUpAgain = false;
  /** Changes of a document that is not stored, waiting for the end of the turn to go to the other nodes. */
  #relaying: Uint8Array[] | null = null;
  /** When the last version was taken (Unix ms; 0: none, or not looked up). */
  lastVersionAt = 0;
  /** Awareness client ids by the peer that introduced them: a peer sets only its own. */
  readonly #owners = new Map<number, DocumentPeer>();
  readonly #owned = new Map<DocumentPeer, Set<number>>();
  /** Awareness client ids peers on other nodes introduced. */
  readonly #remoteOwners = new Map<number, RemoteOwner>();
  /** The user of each peer that set awareness states (told to the other nodes with its changes). */
  readonly #users = new Map<DocumentPeer, string | null>();

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
    this.partLocks = deps.settings.lockedParts ? new PartLocks(deps.settings.lockedParts) : null;
    this.bytes = stored?.bytes ?? 0;
    this.#seq = stored?.seq ?? 0;
    this.#logCount = stored?.logCount ?? 0;
    this.doc.on('update', this.#onUpdate);
    this.awareness = new Awareness(this.doc);
    this.awareness.setLocalState(null);
    this.awareness.on('update', this.#onAwareness);
  }

  /**
   * The users whose changes went in on this node and are not yet in the stored list, for a
   * version taken now (its transaction adds the stored list and empties it).
   */
  takeAuthors(): string[] {
    const authors = [...this.#authors].sort();
    this.#authors.clear();
    return authors;
  }

  /** Every update numbered up to this one in the durable log is applied here. */
  get seq(): number {
    return this.#seq;
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
    this.#users.delete(peer);
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
   * than `maxUpdateBytes` waiting (also 'invalid'), or one from a peer that touches a part
   * another user holds a lock on ({ locked: key }). The server's own changes (`from` null:
   * the HTTP API) are not held back by locks.
   */
  apply(update: Uint8Array, from: DocumentPeer | null, author: string | null = null): ApplyResult {
    if (this.bytes + update.byteLength > this.deps.settings.maxDocumentBytes) return 'too-large';
    if (this.#broken) return 'invalid';
    const locked = from !== null && this.partLocks !== null ? this.partLocks.blocked(this.doc, update, author) : null;
    // A refused update is integrated and undone in the same turn (below): Yjs numbers each client's changes without gaps, so
    // leaving one out would leave every later change of that client waiting for it. Every peer, the writer included, gets the net
    // result (its own change taken back) in one message, and the log stores it; the document's content is as before.
    const revert = locked === null ? null : new Y.UndoManager(this.#typedRoots(), { trackedOrigins: new Set([LOCK_REFUSED]), captureTimeout: 0 });
    // What the apply emits is held until it is known whole: a broken apply's part is neither relayed nor stored.
    this.#held = [];
    let result: ReturnType<typeof applyChecked>;
    try {
      result = applyChecked(this.doc, update, revert ? LOCK_REFUSED : from, this.deps.settings.maxUpdateBytes);
      if (revert && result === 'applied') revert.undo();
    } finally {
      revert?.destroy();
    }
    const held = this.#held;
    this.#held = null;
    if (result === 'broken') {
      this.#broken = true;
      this.deps.broken(this);
      return 'invalid';
    }
    if (locked !== null) {
      if (held.length > 0) this.#emit(held.length === 1 ? (held[0] as [Uint8Array, unknown])[0] : Y.mergeUpdates(held.map(([u]) => u)), null);
      return { locked };
    }
    this.#applying = author;
    try {
      for (const [u, origin] of held) this.#emit(u, origin);
    } finally {
      this.#applying = null;
    }
    if (held.length > 0 && author !== null) this.#authors.add(author);
    return result === 'pending-over-cap' ? 'invalid' : result;
  }

  /** Every root type, typed by what it holds (an undo follows only typed roots); the guarded maps as maps. */
  #typedRoots(): ConstructorParameters<typeof Y.UndoManager>[0] {
    for (const map of Object.values(this.deps.settings.lockedParts ?? {})) {
      try {
        this.doc.getMap(map);
      } catch {
        // Already another kind: typed below like any other root.
      }
    }
    for (const name of [...this.doc.share.keys()]) rootKind(this.doc, name);
    return [...this.doc.share.values()];
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
  applyAwareness(update: Uint8Array, from: DocumentPeer, user: string | null = null): 'applied' | 'invalid' | 'awareness_owner' {
    let entries: AwarenessEntry[];
    try {
      entries = decodeAwareness(update, MAX_AWARENESS_ENTRIES);
    } catch {
      return 'invalid';
    }
    for (const e of entries) {
      const owner = this.#owners.get(e.clientId);
      if (owner !== undefined && owner !== from) return 'awareness_owner';
      // An id introduced on another node is taken over only by the same user (a provider that reconnected here).
      const remote = this.#remoteOwners.get(e.clientId);
      if (remote !== undefined && (user === null || remote.user !== user)) return 'awareness_owner';
    }
    this.#users.set(from, user);
    // A state this document removed (its connection left, its node died) comes back with the clock it had: it is
    // taken with the clock after the removal's, and the provider, told so (the echo), carries on from there. One
    // taken over from another node (its provider reconnected here) skips a clock more: a removal of it that
    // another node makes when the old node dies (the old clock + 1) then never hides it.
    let reclocked = false;
    for (const e of entries) {
      const movedHere = this.#remoteOwners.delete(e.clientId);
      const meta = this.awareness.meta.get(e.clientId);
      if (e.state === 'null' || meta === undefined) continue;
      const floor = movedHere ? meta.clock + 2 : this.awareness.states.has(e.clientId) ? 0 : meta.clock + 1;
      if (e.clock < floor) {
        e.clock = floor;
        reclocked = true;
      }
    }
    if (reclocked) update = encodeAwarenessEntries(entries);
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

  /**
   * Awareness states a peer on another node set or removed (`node`, `user`: that peer's):
   * applied and sent to this node's peers. Ids a peer of this node introduced are left out.
   */
  applyRemoteAwareness(update: Uint8Array, node: string, user: string | null): void {
    let entries: AwarenessEntry[];
    try {
      entries = decodeAwareness(update, MAX_AWARENESS_ENTRIES);
    } catch {
      return;
    }
    if (entries.some((e) => this.#owners.has(e.clientId))) return;
    for (const e of entries) {
      if (e.state === 'null') this.#remoteOwners.delete(e.clientId);
      else this.#remoteOwners.set(e.clientId, { node, user });
    }
    applyAwarenessUpdate(this.awareness, update, REMOTE);
  }

  /** A node is gone: the awareness states its peers introduced are removed, for this node's peers. */
  nodeDown(node: string): void {
    const ids: number[] = [];
    for (const [id, owner] of this.#remoteOwners) if (owner.node === node) ids.push(id);
    for (const id of ids) this.#remoteOwners.delete(id);
    if (ids.length > 0) removeAwarenessStates(this.awareness, ids, REMOTE);
  }

  /** The awareness states this node's peers introduced, encoded with each peer's user (what a node that loaded the document late asks for). */
  localAwareness(): Array<{ update: Uint8Array; user: string | null }> {
    const out: Array<{ update: Uint8Array; user: string | null }> = [];
    for (const [peer, ids] of this.#owned) {
      const live = [...ids].filter((id) => this.awareness.getStates().has(id));
      if (live.length > 0) out.push({ update: encodeAwarenessUpdate(this.awareness, live), user: this.#users.get(peer) ?? null });
    }
    return out;
  }

  /**
   * Updates another node logged with the numbers `from` to `to` (`updates` null: too large
   * to relay, read from the log). The next ones in order are applied at once; after a gap
   * (a message lost while the engine was away, or this node's own write numbered after
   * another's) the log's tail is read and applied. Applying what is already here changes
   * nothing (Yjs), so nothing is applied twice in effect.
   */
  remote(from: number, to: number, updates: Uint8Array[] | null): void {
    if (this.#destroyed || to <= this.#seq) return;
    this.#logCount += to - from + 1;
    if (from === this.#seq + 1 && updates !== null) {
      for (const u of updates) this.#applyRemote(u);
      this.#seq = to;
      return;
    }
    void this.catchUp();
  }

  /** Changes of a document that is not stored, relayed by another node (best effort: not logged, not numbered). */
  remoteUnstored(updates: Uint8Array[]): void {
    if (this.#destroyed) return;
    for (const u of updates) this.#applyRemote(u);
  }

  /** Read the log after what this node holds and apply it (one read at a time; a call meanwhile reads again after it). */
  catchUp(): Promise<void> {
    if (!this.deps.settings.persistence || this.#destroyed) return Promise.resolve();
    if (this.#catchingUp) {
      this.#catchUpAgain = true;
      return this.#catchingUp;
    }
    this.#catchingUp = (async () => {
      do {
        this.#catchUpAgain = false;
        const tail = await this.deps.store.since(this.tenant, this.channel, this.#seq);
        if (this.#destroyed || tail === null) return;
        if (tail.snapshot && tail.snapshot.byteLength > 0) this.#applyRemote(tail.snapshot, false);
        for (const u of tail.updates) this.#applyRemote(u);
        this.#seq = Math.max(this.#seq, tail.seq);
        this.deps.metrics.caughtUp();
      } while (this.#catchUpAgain && !this.#destroyed);
    })()
      .catch((err: unknown) =>
        this.deps.logger.warn({ err, channel: this.channel }, 'reading the log of a document failed: the next change or check reads it again'),
      )
      .finally(() => {
        this.#catchingUp = null;
      });
    return this.#catchingUp;
  }

  #applyRemote(update: Uint8Array, counts = true): void {
    try {
      Y.applyUpdate(this.doc, update, REMOTE);
      if (counts) this.bytes += update.byteLength;
    } catch (err) {
      this.deps.logger.warn({ err, channel: this.channel }, 'an update from the log could not be applied');
    }
  }

  #advance(range: Appended): void {
    if (range.from === this.#seq + 1) this.#seq = range.to;
    else if (range.to > this.#seq) void this.catchUp();
  }

  /** Write what is queued now (also what `stop` awaits). */
  flush(): Promise<void> {
    if (this.#writing) return this.#writing;
    if (this.#queued.length === 0 || this.#destroyed) return Promise.resolve();
    const batch = this.#queued;
    this.#queued = [];
    const authors = [...this.#authors];
    this.#writing = this.deps.store
      .append(this.tenant, this.channel, batch, authors)
      .then(
        (range) => {
          this.#retryDelay = 0;
          for (const a of authors) this.#authors.delete(a);
          this.#logCount += batch.length;
          this.#storedTotal += batch.length;
          this.#advance(range);
          this.#wakeStoreWaiters();
          this.deps.stored(this, batch, range);
        },
        (err: unknown) => {
          this.deps.metrics.storeFailed();
          this.#queued = batch.concat(this.#queued);
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
      const done = await this.deps.compact(this, mergeSnapshot);
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
    const hooks = this.deps.hooks;
    if (hooks?.observesBroadcasts) hooks.broadcast({ tenant: this.tenant, name: this.channel, update, connections: this.peers.size });
    this.#outbox.update(update, origin);
    if (origin === REMOTE) return;
    if (hooks?.observesChanges) hooks.change({ tenant: this.tenant, name: this.channel, update, user: this.#applying });
    if (!this.deps.settings.persistence) {
      if (this.#relaying) this.#relaying.push(update);
      else {
        this.#relaying = [update];
        setImmediate(() => {
          const updates = this.#relaying ?? [];
          this.#relaying = null;
          if (!this.#destroyed) this.deps.relay(this, updates);
        });
      }
      return;
    }
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

  readonly #onAwareness = (changes: { added: number[]; updated: number[]; removed: number[] }, origin: unknown): void => {
    const ids = changes.added.concat(changes.updated, changes.removed);
    if (ids.length === 0) return;
    this.#outbox.awareness(ids);
    // A change of this node's peers (set, or removed when one left or timed out) goes to the other nodes; not
    // what another node relayed, nor the time-out here of a state another node's peer set (its node decides).
    if (origin === REMOTE || this.#destroyed) return;
    const own = ids.filter((id) => !this.#remoteOwners.has(id));
    if (own.length === 0) return;
    const user = typeof origin === 'object' && origin !== null ? (this.#users.get(origin as DocumentPeer) ?? null) : null;
    this.deps.relayAwareness(this, encodeAwarenessUpdate(this.awareness, own), user);
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
