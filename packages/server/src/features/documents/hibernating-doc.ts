import * as Y from 'yjs';

const NO_LISTENER = (): void => {};
/** Longest time a whole state encoded for joiners is kept while nothing changes (its memory is the document's size). */
const WHOLE_STATE_MS = 5_000;
/** A smaller whole state is encoded for each joiner (microseconds) rather than kept. */
const WHOLE_STATE_MIN_BYTES = 4096;

/**
 * A `Y.Doc` that can be held as its encoded state instead (hibernated): the state
 * `Y.encodeStateAsUpdate` gives, from which the next use rebuilds the `Y.Doc` before its
 * listeners are on, so the rebuild emits nothing (nothing is stored or relayed again). The
 * rebuild is synchronous: nothing sees the document half-built. The base of `LiveDocument`,
 * which decides when a document may hibernate; this holds how.
 */
export abstract class HibernatingDoc {
  /** The live document; null while hibernated. */
  #doc: Y.Doc | null = new Y.Doc({ gc: true });
  /** While hibernated: the whole state, encoded, and its state vector once asked for. */
  #state: Uint8Array | null = null;
  #stateVector: Uint8Array | null = null;
  /** The whole state of the live document, encoded for peers that hold nothing, until its next change. */
  #whole: Uint8Array | null = null;
  #wholeTimer: NodeJS.Timeout | null = null;
  /** Used since the last `untouched()` (any read or change of the Yjs state). */
  #touched = true;
  /** The listeners on the live document, made with it (a hibernated one holds none); 'update' is taken off while a client's update is applied as sent. */
  protected onUpdate: (update: Uint8Array, origin: unknown) => void = NO_LISTENER;
  #onTransaction: (tr: Y.Transaction) => void = NO_LISTENER;

  /** An update the live document emitted. */
  protected abstract updated(update: Uint8Array, origin: unknown): void;
  /** A transaction of the live document ended. */
  protected abstract transacted(tr: Y.Transaction): void;
  /** A whole state was encoded for a joiner that held nothing (not while hibernated: the encoded state is it). */
  protected abstract wholeStateEncoded(): void;
  /** Hibernated documents are `delta` more (1: one hibernated; -1: one woke or was forgotten hibernated). */
  protected abstract hibernationChanged(delta: number): void;

  /** The document's Yjs state: rebuilt from its encoded state if it was hibernated. */
  get doc(): Y.Doc {
    this.#touched = true;
    return this.#doc ?? this.#wake();
  }

  /** Whether the document is held as its encoded state (no `Y.Doc` in memory). */
  get hibernated(): boolean {
    return this.#doc === null;
  }

  /** The live document without marking it used (null while hibernated). */
  protected get live(): Y.Doc | null {
    return this.#doc;
  }

  /**
   * The whole state, for a peer that holds nothing: while hibernated the encoded state itself;
   * else encoded once for every such peer until the next change (`dropWhole`) and for at most
   * WHOLE_STATE_MS, so joiners of a large document share it (one under WHOLE_STATE_MIN_BYTES
   * is encoded for each, and not kept).
   */
  protected wholeState(): Uint8Array {
    if (this.#state !== null) return this.#state;
    if (this.#whole !== null) return this.#whole;
    const whole = Y.encodeStateAsUpdate(this.doc);
    this.wholeStateEncoded();
    if (whole.byteLength < WHOLE_STATE_MIN_BYTES) return whole;
    this.#whole = whole;
    this.#wholeTimer = setTimeout(() => this.dropWhole(), WHOLE_STATE_MS);
    this.#wholeTimer.unref();
    return whole;
  }

  /** Whether a whole state encoded for joiners is kept (the next change drops it). */
  protected get holdsWhole(): boolean {
    return this.#whole !== null;
  }

  protected dropWhole(): void {
    this.#whole = null;
    if (this.#wholeTimer) clearTimeout(this.#wholeTimer);
    this.#wholeTimer = null;
  }

  /** The state vector while hibernated (read from the encoded state once), else null. */
  protected hibernatedStateVector(): Uint8Array | null {
    if (this.#state === null) return null;
    this.#stateVector ??= Y.encodeStateVectorFromUpdate(this.#state);
    return this.#stateVector;
  }

  /** True when nothing used the document since the previous call. */
  protected untouched(): boolean {
    if (!this.#touched) return true;
    this.#touched = false;
    return false;
  }

  /** Put the listeners on the live document (once filled from the store, so that filling emits nothing). */
  protected listen(): void {
    const doc = this.#doc;
    if (doc === null) return;
    this.onUpdate = (update, origin) => this.updated(update, origin);
    this.#onTransaction = (tr) => this.transacted(tr);
    doc.on('update', this.onUpdate);
    doc.on('afterTransaction', this.#onTransaction);
  }

  /** Hold the live document as its encoded state (the one kept for joiners, if any) and drop the `Y.Doc`. */
  protected sleep(): void {
    const doc = this.#doc;
    if (doc === null) return;
    this.#state = this.#whole ?? Y.encodeStateAsUpdate(doc);
    this.dropWhole();
    doc.off('update', this.onUpdate);
    doc.off('afterTransaction', this.#onTransaction);
    this.onUpdate = NO_LISTENER;
    this.#onTransaction = NO_LISTENER;
    doc.destroy();
    this.#doc = null;
    this.hibernationChanged(1);
  }

  #wake(): Y.Doc {
    const doc = new Y.Doc({ gc: true });
    if (this.#state) Y.applyUpdate(doc, this.#state);
    this.#state = null;
    this.#stateVector = null;
    this.#doc = doc;
    this.listen();
    this.hibernationChanged(-1);
    return doc;
  }

  /** Drop the document, live or hibernated. */
  protected forget(): void {
    this.dropWhole();
    if (this.#doc === null && this.#state !== null) this.hibernationChanged(-1);
    this.#state = null;
    this.#stateVector = null;
    this.#doc?.destroy();
  }
}
