import type { DisconnectInfo } from '@switchboard/protocol';
import type { Logger } from 'pino';
import * as Y from 'yjs';
import type { DocumentSettings } from './config.js';
import { DocumentAwareness, REMOTE } from './document-awareness.js';
import type { DocumentHooks } from './hooks.js';
import { rootKind } from './json.js';
import type { DocumentMetrics } from './metrics.js';
import { PeerOutbox } from './outbox.js';
import { PartLocks } from './part-locks.js';
import { mergeInChunks, mergeSnapshot, wholeState } from './snapshot.js';
import type { Appended, Compaction, DocumentStore, Fold, StoredDocument } from './store.js';
import { UnstoredSync } from './unstored-sync.js';
import { applyChecked, type DecodedUpdate, pendingBytes } from './update-check.js';

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

export { REMOTE };

/** What applying a client's update came to ('locked': it touches a part another user holds a lock on; nothing applied). */
export type ApplyResult = 'applied' | 'invalid' | 'too-large' | { locked: string };

/** An acknowledgement waiting for the updates queued before it to be written. */
interface StoreWaiter {
  upTo: number;
  resolve: () => void;
}

/** An update of no structs and no deletions (both counts zero). */
const isEmptyUpdate = (u: Uint8Array): boolean => u.byteLength === 2 && u[0] === 0 && u[1] === 0;

const constant =
  <T>(value: T) =>
  (): T =>
    value;

/** Longest time a whole state encoded for joiners is kept while nothing changes (its memory is the document's size). */
const WHOLE_STATE_MS = 5_000;
/** A smaller whole state is encoded for each joiner (microseconds) rather than kept. */
const WHOLE_STATE_MIN_BYTES = 4096;
/** Backoff of a failed write of the log: doubling from 200 ms to 30 s. */
const RETRY_MIN = 200;
const RETRY_MAX = 30_000;

export interface LiveDocumentDeps {
  store: DocumentStore;
  settings: DocumentSettings;
  compactAfter: number;
  /** Least time between two folds of the log (ms), unless it holds 64 × `compactAfter` entries. */
  compactInterval: number;
  /** Least time between two writes of the log, and between two sends to the peers (ms; 0: once per turn). */
  groupCommit: number;
  sendWindow: number;
  metrics: DocumentMetrics;
  logger: Logger;
  /** Called when the document may be unloadable (no peer, nothing to store). */
  idle(doc: LiveDocument): void;
  /** Called when an apply failed halfway: the document must be discarded (its peers reconnect and it reloads). */
  broken(doc: LiveDocument): void;
  /**
   * Called after a write committed `entries` with the numbers `range` (each node that holds
   * the document is told); they hold `count` updates of clients.
   */
  stored(doc: LiveDocument, entries: Uint8Array[], range: Appended, count: number): void;
  /** The embedding app's hooks (onChange, beforeBroadcast), if any. */
  hooks?: DocumentHooks;
  /** Fold the document's log into its snapshot, unless another node is doing it (a lease). */
  compact(doc: LiveDocument, fold: Fold): Promise<Compaction>;
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
  /** Its Yjs state; null while hibernated (held as `#state` instead: see `hibernate`). */
  #doc: Y.Doc | null = new Y.Doc({ gc: true });
  /** While hibernated: the whole state, encoded, and its state vector. */
  #state: Uint8Array | null = null;
  #stateVector: Uint8Array | null = null;
  /** Used since the last `hibernate` call (any read or change of the Yjs state). */
  #touched = true;
  /** Who is in it and where (Yjs awareness). */
  readonly aware: DocumentAwareness<DocumentPeer>;
  readonly peers = new Set<DocumentPeer>();
  /** What goes to the peers, once per turn (or per `sendWindow` while busy). */
  readonly #outbox: PeerOutbox;
  /** The locks on its parts, where its namespace declares `lockedParts` (null: none guarded). */
  readonly partLocks: PartLocks | null;
  /** How its changes go between the nodes when it is not stored (null: stored, the log is the truth). */
  readonly unstored: UnstoredSync | null;
  /** Stored bytes plus queued ones (not stored: what its changes added, see UnstoredSync): what the size limit counts. */
  bytes: number;
  #logCount: number;
  /** Bytes of the snapshot when this node last read or made it (the rest of `bytes` is the log). */
  #snapshotBytes: number;
  #queued: Uint8Array[] = [];
  /** Updates queued and written since load: `whenStored` waits for the count it saw. */
  #queuedTotal = 0;
  #storedTotal = 0;
  #storeWaiters: StoreWaiter[] = [];
  #writing: Promise<void> | null = null;
  #flushScheduled = false;
  #flushTimer: NodeJS.Timeout | null = null;
  /** When the last write of the log began (performance.now()): a busy document writes once per `groupCommit`. */
  #lastWriteAt = Number.NEGATIVE_INFINITY;
  /** An update from the log could not be applied here: compactions fold the stored rows, not this document's state. */
  #missesStored = false;
  #retryDelay = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #compacting = false;
  /** When the last fold began (performance.now()). */
  #compactedAt = Number.NEGATIVE_INFINITY;
  #destroyed = false;
  /** Updates emitted by the apply in progress, with their origins. */
  #held: Array<[Uint8Array, unknown]> | null = null;
  /** While a client's update is applied as sent: the state before its first change (null: none yet). */
  #watching = false;
  #changedFrom: Map<number, number> | null = null;
  /** The whole state, encoded for peers that hold nothing, until the next transaction. */
  #whole: Uint8Array | null = null;
  #wholeTimer: NodeJS.Timeout | null = null;
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
  /** When the last version was taken (Unix ms; 0: none, or not looked up). */
  lastVersionAt = 0;

  constructor(
    readonly tenant: string,
    readonly channel: string,
    stored: StoredDocument | null,
    private readonly deps: LiveDocumentDeps,
  ) {
    const doc = this.#doc as Y.Doc;
    if (stored) {
      if (stored.snapshot.byteLength > 0) Y.applyUpdate(doc, stored.snapshot);
      for (const update of stored.updates) Y.applyUpdate(doc, update);
    }
    this.#outbox = new PeerOutbox(
      this.peers,
      (ids) => this.aware.encode(ids),
      () => !this.#destroyed,
      deps.sendWindow,
    );
    this.partLocks = deps.settings.lockedParts ? new PartLocks(deps.settings.lockedParts) : null;
    this.unstored = deps.settings.persistence
      ? null
      : new UnstoredSync(this, { relay: (updates) => deps.relay(this, updates), gone: () => this.#destroyed, logger: deps.logger });
    this.bytes = stored?.bytes ?? 0;
    this.#seq = stored?.seq ?? 0;
    this.#logCount = stored?.logCount ?? 0;
    this.#snapshotBytes = stored ? stored.snapshot.byteLength : 0;
    this.#listen(doc);
    this.aware = new DocumentAwareness<DocumentPeer>({
      changed: (ids) => this.#outbox.awareness(ids),
      relay: (update, user) => this.deps.relayAwareness(this, update, user),
      gone: () => this.#destroyed,
    });
  }

  /** The document's Yjs state: rebuilt from its encoded state if it was hibernated. */
  get doc(): Y.Doc {
    this.#touched = true;
    return this.#doc ?? this.#wake();
  }

  /** Whether the document is held as its encoded state (no `Y.Doc` in memory). */
  get hibernated(): boolean {
    return this.#doc === null;
  }

  #listen(doc: Y.Doc): void {
    doc.on('update', this.#onUpdate);
    doc.on('afterTransaction', this.#onTransaction);
  }

  /**
   * Keep the document as its encoded state (`Y.encodeStateAsUpdate`, and its state vector)
   * instead of a live `Y.Doc`, if nothing read or changed it since the previous call and
   * nothing is in flight: no update queued, being written or waiting for what it depends on,
   * no fold, no read of the log, nothing left to send. The next use rebuilds the `Y.Doc` from
   * that state, exactly, before anything else touches it (JavaScript runs one thing at a
   * time, so nothing sees it half-built); a joiner that holds nothing is answered from the
   * encoded state without a rebuild. A document that is not stored is never hibernated (its
   * node-to-node sync listens on its `Y.Doc`). True when it hibernated now.
   */
  hibernate(): boolean {
    const doc = this.#doc;
    if (doc === null) return false;
    if (this.#touched) {
      this.#touched = false;
      return false;
    }
    if (!this.#quiet() || pendingBytes(doc) > 0) return false;
    this.#state = this.#whole ?? Y.encodeStateAsUpdate(doc);
    this.#stateVector = Y.encodeStateVector(doc);
    this.#dropWhole();
    doc.off('update', this.#onUpdate);
    doc.off('afterTransaction', this.#onTransaction);
    doc.destroy();
    this.#doc = null;
    this.deps.metrics.hibernated(1);
    return true;
  }

  /** Nothing in flight that holds on to the live `Y.Doc`. */
  #quiet(): boolean {
    return (
      !this.#destroyed &&
      !this.#broken &&
      this.unstored === null &&
      this.#held === null &&
      this.#queued.length === 0 &&
      this.#writing === null &&
      !this.#flushScheduled &&
      this.#retryTimer === null &&
      !this.#compacting &&
      this.#catchingUp === null &&
      this.#outbox.idle
    );
  }

  /** Rebuild the `Y.Doc` from the encoded state, before its listeners are on: nothing is emitted, stored or relayed again. */
  #wake(): Y.Doc {
    const doc = new Y.Doc({ gc: true });
    if (this.#state) Y.applyUpdate(doc, this.#state);
    this.#state = null;
    this.#stateVector = null;
    this.#listen(doc);
    this.#doc = doc;
    this.deps.metrics.hibernated(-1);
    return doc;
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
    this.aware.leave(peer);
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
    // An update of no structs and no deletions (a provider's answer when it holds nothing new) changes nothing: a hibernated document stays so.
    if (this.#doc === null && isEmptyUpdate(update)) return 'applied';
    // Held part locks look into the update: it is decoded once, for them and for the check before the apply.
    let decoded: DecodedUpdate | undefined;
    const guard = from !== null && this.partLocks !== null && this.partLocks.size > 0 ? this.partLocks : null;
    if (guard !== null) {
      try {
        decoded = Y.decodeUpdate(update);
      } catch {
        return 'invalid';
      }
    }
    const locked = guard !== null ? guard.blocked(this.doc, update, author, decoded) : null;
    // A refused update is integrated and undone in the same turn (below): Yjs numbers each client's changes without gaps, so
    // leaving one out would leave every later change of that client waiting for it. Every peer, the writer included, gets the net
    // result (its own change taken back) in one message, and the log stores it; the document's content is as before.
    const revert = locked === null ? null : new Y.UndoManager(this.#typedRoots(), { trackedOrigins: new Set([LOCK_REFUSED]), captureTimeout: 0 });
    // What the apply emits is held until it is known whole: a broken apply's part is neither relayed nor stored.
    this.#held = [];
    // An update that is not refused goes on as the client sent it: Yjs does not encode it again (an 'update' listener
    // would make it), and only whether it changed anything is watched.
    const direct = revert === null;
    if (direct) {
      this.doc.off('update', this.#onUpdate);
      this.#changedFrom = null;
      this.#watching = true;
    }
    let result: ReturnType<typeof applyChecked>;
    try {
      result = applyChecked(this.doc, update, revert ? LOCK_REFUSED : from, this.deps.settings.maxUpdateBytes, decoded);
      if (revert && result === 'applied') revert.undo();
    } finally {
      revert?.destroy();
      if (direct) {
        this.#watching = false;
        this.doc.on('update', this.#onUpdate);
      }
    }
    // Structs left waiting are part of the whole state too (Yjs encodes them with it).
    if (this.#whole !== null && pendingBytes(this.doc) > 0) this.#dropWhole();
    const held = direct ? this.#asSent(update, from, result) : this.#held;
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

  /**
   * What a client's update that was applied as sent brings: its own bytes when it went in (or
   * waits, whole, for what it depends on: a later update completes it on every peer and in
   * the log as here); only what went in when its waiting part was dropped (over the cap).
   */
  #asSent(update: Uint8Array, from: DocumentPeer | null, result: ReturnType<typeof applyChecked>): Array<[Uint8Array, unknown]> {
    const before = this.#changedFrom;
    this.#changedFrom = null;
    if (result === 'applied') return before !== null || pendingBytes(this.doc) > 0 ? [[update, from]] : [];
    if (result !== 'pending-over-cap' || before === null) return [];
    return [[Y.encodeStateAsUpdate(this.doc, Y.encodeStateVector(before)), from]];
  }

  /**
   * After every transaction that changed something: the whole state encoded for joiners is
   * dropped, and while a client's update is applied as sent, the state before it is noted.
   */
  readonly #onTransaction = (tr: Y.Transaction): void => {
    if (this.#whole === null && (!this.#watching || this.#changedFrom !== null)) return;
    let changed = tr.deleteSet.clients.size > 0;
    if (!changed) for (const [client, clock] of tr.afterState) if (tr.beforeState.get(client) !== clock) changed = true;
    if (!changed) return;
    if (this.#whole !== null) this.#dropWhole();
    if (this.#watching && this.#changedFrom === null) this.#changedFrom = tr.beforeState;
  };

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
    if (this.#stateVector !== null) return this.#stateVector;
    return Y.encodeStateVector(this.doc);
  }

  /**
   * What a peer with state vector `sv` lacks (sync step 2); null when `sv` is malformed. A
   * peer that holds nothing gets the whole state, encoded once for every such peer until the
   * next change (and for at most WHOLE_STATE_MS): joiners of a large document share it (one
   * under WHOLE_STATE_MIN_BYTES is encoded for each, and not kept).
   */
  diff(sv: Uint8Array): Uint8Array | null {
    try {
      if (Y.decodeStateVector(sv).size > 0) return Y.encodeStateAsUpdate(this.doc, sv);
    } catch {
      return null;
    }
    // Hibernated: the encoded state is the whole state, as Y.encodeStateAsUpdate gave it.
    if (this.#state !== null) return this.#state;
    if (this.#whole !== null) return this.#whole;
    const whole = Y.encodeStateAsUpdate(this.doc);
    this.deps.metrics.stateEncoded();
    if (whole.byteLength < WHOLE_STATE_MIN_BYTES) return whole;
    this.#whole = whole;
    this.#wholeTimer = setTimeout(this.#dropWhole, WHOLE_STATE_MS);
    this.#wholeTimer.unref();
    return whole;
  }

  readonly #dropWhole = (): void => {
    this.#whole = null;
    if (this.#wholeTimer) clearTimeout(this.#wholeTimer);
    this.#wholeTimer = null;
  };

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
      this.#missesStored = true;
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
    this.#lastWriteAt = performance.now();
    const authors = [...this.#authors];
    // One log entry per write (per 64 updates of one): a row costs more to store than merging updates into one.
    const entries = mergeInChunks(batch);
    this.#writing = this.deps.store
      .append(this.tenant, this.channel, entries, authors)
      .then(
        (range) => {
          this.#retryDelay = 0;
          for (const a of authors) this.#authors.delete(a);
          this.#logCount += entries.length;
          this.#storedTotal += batch.length;
          this.#advance(range);
          this.#wakeStoreWaiters();
          this.deps.stored(this, entries, range, batch.length);
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
    if (this.#compactDue() && !this.#compacting) void this.#compact();
    else if (this.idle) this.deps.idle(this);
  }

  /**
   * A fold costs the whole document's bytes, so it waits until the log is worth it: at least
   * `compactAfter` updates holding a quarter of the snapshot's bytes (a large document is not
   * rewritten for a few keystrokes) and `compactInterval` after the last fold, or 64 ×
   * `compactAfter` updates whatever their size and age.
   */
  #compactDue(): boolean {
    const after = this.deps.compactAfter;
    if (this.#logCount < after) return false;
    if (this.#logCount >= 64 * after) return true;
    // A busy document folds at most once per `compactInterval`: each fold encodes the whole state on the event loop.
    return (this.bytes - this.#snapshotBytes) * 4 >= this.#snapshotBytes && performance.now() - this.#compactedAt >= this.deps.compactInterval;
  }

  async #compact(): Promise<void> {
    this.#compacting = true;
    this.#compactedAt = performance.now();
    try {
      // The state held here is everything logged up to #seq (and maybe more, which a fold may hold too): encoding it
      // costs far less than applying the snapshot and the log to a fresh document.
      // Encoded now, not when the store asks: by then the document may be unloaded or stopped (destroyed).
      const fold = this.#missesStored || this.#broken ? mergeSnapshot : { state: constant(wholeState(this.doc)), upTo: this.#seq };
      const done = await this.deps.compact(this, fold);
      this.#logCount = Math.max(0, this.#logCount - done.folded);
      this.bytes = Math.max(0, this.bytes - (done.before - done.after));
      if (done.folded > 0) this.#snapshotBytes = done.after;
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
    if (this.unstored) {
      this.unstored.local(update);
      return;
    }
    this.#queued.push(update);
    this.#queuedTotal++;
    this.bytes += update.byteLength;
    if (!this.#flushScheduled && this.#retryTimer === null) {
      this.#flushScheduled = true;
      const wait = this.#lastWriteAt + this.deps.groupCommit - performance.now();
      if (wait <= 0) setImmediate(this.#scheduledFlush);
      else this.#flushTimer = setTimeout(this.#scheduledFlush, Math.ceil(wait));
    }
  }

  readonly #scheduledFlush = (): void => {
    this.#flushScheduled = false;
    this.#flushTimer = null;
    void this.flush();
  };

  /**
   * Drop what is queued (the document is being deleted): nothing more is written. Resolves
   * once a write already in flight ended, so the delete comes after it.
   */
  abandon(): Promise<void> {
    this.#destroyed = true;
    this.#queued = [];
    this.#clearTimers();
    return this.#writing ?? Promise.resolve();
  }

  /** Forget the document (after it was unloaded, or at stop once flushed). */
  destroy(): void {
    this.#destroyed = true;
    this.#clearTimers();
    this.aware.destroy();
    if (this.#doc === null) {
      if (this.#state !== null) this.deps.metrics.hibernated(-1);
      this.#state = null;
      this.#stateVector = null;
    }
    this.#doc?.destroy();
  }

  #clearTimers(): void {
    this.#dropWhole();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#retryTimer = null;
    this.#flushTimer = null;
    this.#flushScheduled = false;
  }
}
