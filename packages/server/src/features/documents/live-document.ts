import { randomInt } from 'node:crypto';
import * as Y from 'yjs';
import type { DocumentSettings } from './config.js';
import { type AwarenessSink, DocumentAwareness, REMOTE } from './document-awareness.js';
import { EarlyOut, EarlyRelays } from './early-relays.js';
import { HibernatingDoc } from './hibernating-doc.js';
import type { DocumentPeer, EarlyStored, LiveDocumentDeps } from './live-document-deps.js';
import { NO_UPDATES, type OutboxOwner, PeerOutbox, withUpdate } from './outbox.js';
import { PartLocks, typedRoots } from './part-locks.js';
import { mergeInChunks, mergeSnapshot, wholeState } from './snapshot.js';
import type { Appended, StoredDocument } from './store.js';
import { StoredCount } from './stored-count.js';
import { UnstoredSync } from './unstored-sync.js';
import { applyChecked, type DecodedUpdate, pendingBytes } from './update-check.js';

/** The origin of an update refused because of a part lock, while it is applied and undone. */
const LOCK_REFUSED = Symbol('lock-refused');

export type { DocumentPeer, LiveDocumentDeps } from './live-document-deps.js';
export { REMOTE };

/** What applying a client's update came to ('locked': it touches a part another user holds a lock on; nothing applied). */
export type ApplyResult = 'applied' | 'invalid' | 'too-large' | { locked: string };

/** An update of no structs and no deletions (both counts zero). */
const isEmptyUpdate = (u: Uint8Array): boolean => u.byteLength === 2 && u[0] === 0 && u[1] === 0;

/** Backoff of a failed write of the log: doubling from 200 ms to 30 s. */
const [RETRY_MIN, RETRY_MAX] = [200, 30_000];

/**
 * A document loaded on this node: its Yjs state, its awareness, its peers, and the updates
 * not yet in its durable log. Updates go to the other peers (and nodes) at once and to the log
 * in one transaction per turn (a group commit); a failed write keeps them queued and retries
 * with backoff, and the document is not unloaded while anything is queued or being written.
 */
export class LiveDocument extends HibernatingDoc implements AwarenessSink, OutboxOwner {
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
  #queued: readonly Uint8Array[] = NO_UPDATES;
  /** Updates queued and written since load: `whenStored` waits for the count it saw. */
  readonly #count = new StoredCount();
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
  /** An apply failed halfway: the document is being discarded and reloaded from the store. */
  #broken = false;
  /** The user whose update is being applied (for the onChange hook); null for the server's own changes. */
  #applying: string | null = null;
  /** Users whose changes went in on this node and are not yet written with the log (or taken by a version). */
  #authors: Set<string> | null = null;
  /** Every update numbered up to this one in the durable log is in `doc`. */
  #seq: number;
  /** A read of the log's tail in progress (another node's updates this node missed), and whether to read again after it. */
  #catchingUp: Promise<void> | null = null;
  #catchUpAgain = false;
  /** When the last version was taken (Unix ms; 0: none, or not looked up). */
  lastVersionAt = 0;
  /** This load of the document (numbers its updates for the other nodes: see EarlyRelays). */
  readonly instance = randomInt(2 ** 31);
  /** Its updates relayed to the other nodes before they are stored (null: none yet; always null on one node). */
  #earlyOut: EarlyOut | null = null;
  /** What the other nodes relayed before storing it (null: nothing yet). */
  #earlyIn: EarlyRelays | null = null;

  constructor(
    readonly tenant: string,
    readonly channel: string,
    stored: StoredDocument | null,
    private readonly deps: LiveDocumentDeps<LiveDocument>,
  ) {
    super();
    const doc = this.live as Y.Doc;
    if (stored) {
      if (stored.snapshot.byteLength > 0) Y.applyUpdate(doc, stored.snapshot);
      for (const update of stored.updates) Y.applyUpdate(doc, update);
    }
    this.#outbox = new PeerOutbox(this, deps.sendWindow);
    this.partLocks = deps.settings.lockedParts ? new PartLocks(deps.settings.lockedParts) : null;
    this.unstored = deps.settings.persistence
      ? null
      : new UnstoredSync(this, { relay: (updates) => deps.relay(this, updates), gone: () => this.#destroyed, logger: deps.logger });
    this.bytes = stored?.bytes ?? 0;
    this.#seq = stored?.seq ?? 0;
    this.#logCount = stored?.logCount ?? 0;
    this.#snapshotBytes = stored ? stored.snapshot.byteLength : 0;
    this.listen();
    this.aware = new DocumentAwareness<DocumentPeer>(this);
  }

  /** Whether it was unloaded, discarded or deleted here. */
  get gone(): boolean {
    return this.#destroyed;
  }

  /** Its awareness changed these client ids: their states go to its peers (see AwarenessSink). */
  awarenessChanged(ids: number[]): void {
    this.#outbox.awareness(ids);
  }

  /** An awareness change one of its peers made, for the other nodes (see AwarenessSink). */
  relayAwareness(update: Uint8Array, user: string | null): void {
    this.deps.relayAwareness(this, update, user);
  }

  /**
   * Hold the document as its encoded state (see HibernatingDoc) if nothing used it since the
   * previous call and nothing is in flight: nothing queued, written, folded, read from the log,
   * relayed or left to send, no struct waiting for another. Not stored: never (its node-to-node
   * sync listens on its `Y.Doc`). True when it hibernated now.
   */
  hibernate(): boolean {
    const doc = this.live;
    if (doc === null || !this.untouched() || !this.#quiet() || pendingBytes(doc) > 0) return false;
    this.sleep();
    return true;
  }

  protected hibernationChanged(delta: number): void {
    this.deps.metrics.hibernated(delta);
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
      !this.#earlyOut?.waiting &&
      !this.#earlyIn?.pending &&
      this.#outbox.idle
    );
  }

  /**
   * The users whose changes went in on this node and are not yet in the stored list, for a
   * version taken now (its transaction adds the stored list and empties it).
   */
  takeAuthors(): string[] {
    const authors = [...(this.#authors ?? [])].sort();
    this.#authors = null;
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
    return this.peers.size === 0 && this.#queued.length === 0 && this.#writing === null && !this.#compacting && !this.#earlyIn?.pending;
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
    if (this.hibernated && isEmptyUpdate(update)) return 'applied';
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
    const revert =
      locked === null
        ? null
        : new Y.UndoManager(typedRoots(this.doc, this.deps.settings.lockedParts), { trackedOrigins: new Set([LOCK_REFUSED]), captureTimeout: 0 });
    // What the apply emits is held until it is known whole: a broken apply's part is neither relayed nor stored.
    this.#held = [];
    // An update that is not refused goes on as the client sent it: Yjs does not encode it again (an 'update' listener
    // would make it), and only whether it changed anything is watched.
    const direct = revert === null;
    const doc = this.doc;
    if (direct) {
      doc.off('update', this.onUpdate);
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
        doc.on('update', this.onUpdate);
      }
    }
    // Structs left waiting are part of the whole state too (Yjs encodes them with it).
    if (this.holdsWhole && pendingBytes(this.doc) > 0) this.dropWhole();
    const held = direct ? this.#asSent(update, from, result) : this.#held;
    this.#held = null;
    // Nothing new here, maybe only because another node relayed it before storing it: the client's acknowledgement then waits for a write of this node's own.
    if (direct && result === 'applied' && held.length === 0 && this.#earlyIn?.pending && !isEmptyUpdate(update)) this.#adopt(update);
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
    if (held.length > 0 && author !== null) {
      this.#authors ??= new Set();
      this.#authors.add(author);
    }
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
  protected transacted(tr: Y.Transaction): void {
    if (!this.holdsWhole && (!this.#watching || this.#changedFrom !== null)) return;
    let changed = tr.deleteSet.clients.size > 0;
    if (!changed) for (const [client, clock] of tr.afterState) if (tr.beforeState.get(client) !== clock) changed = true;
    if (!changed) return;
    if (this.holdsWhole) this.dropWhole();
    if (this.#watching && this.#changedFrom === null) this.#changedFrom = tr.beforeState;
  }

  /** The document's state vector (sync step 1). */
  stateVector(): Uint8Array {
    // Hibernated (no struct waits for another: see `hibernate`): read from the encoded state, once.
    return this.hibernatedStateVector() ?? Y.encodeStateVector(this.doc);
  }

  /**
   * What a peer with state vector `sv` lacks (sync step 2); null when `sv` is malformed. A
   * peer that holds nothing gets the whole state, encoded once for every such peer until the
   * next change (see HibernatingDoc.wholeState).
   */
  diff(sv: Uint8Array): Uint8Array | null {
    try {
      if (Y.decodeStateVector(sv).size > 0) return Y.encodeStateAsUpdate(this.doc, sv);
    } catch {
      return null;
    }
    return this.wholeState();
  }

  protected wholeStateEncoded(): void {
    this.deps.metrics.stateEncoded();
  }

  /**
   * Updates another node logged with the numbers `from` to `to` (`updates` null: too large
   * to relay, read from the log). The next ones in order are applied at once; after a gap
   * (a message lost while the engine was away, or this node's own write numbered after
   * another's) the log's tail is read and applied. Applying what is already here changes
   * nothing (Yjs), so nothing is applied twice in effect.
   */
  remote(from: number, to: number, updates: Uint8Array[] | null, early?: EarlyStored): void {
    if (this.#destroyed) return;
    // Every update of the batch came before, relayed early: it is applied here already.
    const held = early !== undefined && (this.#earlyIn?.stored(early.node, early.instance, early.after, early.upTo) ?? false);
    if (early !== undefined && this.idle) this.deps.idle(this);
    if (to <= this.#seq) return;
    this.#logCount += to - from + 1;
    if (from === this.#seq + 1 && (held || updates !== null)) {
      if (held) this.bytes += (early as EarlyStored).bytes;
      else for (const u of updates as Uint8Array[]) this.#applyRemote(u);
      this.#seq = to;
      return;
    }
    void this.catchUp();
  }

  /** Another node's updates numbered `after + 1`… of its load `instance`, relayed before it stored them: applied and sent to this node's peers. */
  early(node: string, instance: number, after: number, updates: Uint8Array[]): void {
    if (this.#destroyed) return;
    this.#earlyIn ??= new EarlyRelays((u) => this.#adopt(u));
    this.#earlyIn.received(node, instance, after, updates);
    for (const u of updates) this.#applyRemote(u, false);
  }

  /** A node is gone: what it relayed and never announced stored is stored by this node. */
  nodeDown(node: string): void {
    this.#earlyIn?.nodeDown(node);
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
    this.#earlyOut?.send();
    const batch = this.#queued;
    const after = this.#count.storedTotal;
    this.#queued = NO_UPDATES;
    this.#lastWriteAt = performance.now();
    const authors = [...(this.#authors ?? [])];
    // One log entry per write (per 64 updates of one): a row costs more to store than merging updates into one.
    const entries = mergeInChunks(batch);
    this.#writing = this.deps.store
      .append(this.tenant, this.channel, entries, authors)
      .then(
        (range) => {
          this.#retryDelay = 0;
          for (const a of authors) this.#authors?.delete(a);
          if (this.#authors?.size === 0) this.#authors = null;
          this.#logCount += entries.length;
          this.#count.stored(batch.length);
          this.#advance(range);
          this.deps.stored(this, entries, range, batch.length, { after, upTo: after + batch.length, early: this.#earlyOut?.allSentAfter(after) ?? false });
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
    return this.#count.whenStored();
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
      const state = this.#missesStored || this.#broken ? null : wholeState(this.doc);
      const fold = state === null ? mergeSnapshot : { state: () => state, upTo: this.#seq };
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

  protected updated(update: Uint8Array, origin: unknown): void {
    if (this.#held) this.#held.push([update, origin]);
    else this.#emit(update, origin);
  }

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
    this.#queue(update);
    if (this.deps.clustered) {
      this.#earlyOut ??= new EarlyOut((updates, after) => !this.#destroyed && this.deps.relayEarly(this, updates, after));
      this.#earlyOut.add(update, this.#count.queuedTotal);
    }
  }

  /** Store an update this node already holds and sent, as its own (not relayed early: the other nodes read it from the log). */
  #adopt(update: Uint8Array): void {
    // The turn's batch goes first: a batch holds consecutive numbers, and this update takes the next one.
    this.#earlyOut?.send();
    this.#queue(update);
    this.#earlyOut?.skipped(this.#count.queuedTotal);
  }

  #queue(update: Uint8Array): void {
    this.#queued = withUpdate(this.#queued, update);
    this.#count.queued();
    this.bytes += update.byteLength;
    if (!this.#flushScheduled && this.#retryTimer === null) {
      this.#flushScheduled = true;
      const wait = this.#lastWriteAt + this.deps.groupCommit - performance.now();
      if (wait <= 0) setImmediate(() => this.#scheduledFlush());
      else this.#flushTimer = setTimeout(() => this.#scheduledFlush(), Math.ceil(wait));
    }
  }

  #scheduledFlush(): void {
    this.#flushScheduled = false;
    this.#flushTimer = null;
    void this.flush();
  }

  /**
   * Drop what is queued (the document is being deleted): nothing more is written. Resolves
   * once a write already in flight ended, so the delete comes after it.
   */
  abandon(): Promise<void> {
    this.#destroyed = true;
    this.#queued = NO_UPDATES;
    this.#clearTimers();
    return this.#writing ?? Promise.resolve();
  }

  /** Forget the document (after it was unloaded, or at stop once flushed). */
  destroy(): void {
    this.#destroyed = true;
    this.#clearTimers();
    this.aware.destroy();
    this.forget();
  }

  #clearTimers(): void {
    this.dropWhole();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#retryTimer = null;
    this.#flushTimer = null;
    this.#flushScheduled = false;
  }
}
