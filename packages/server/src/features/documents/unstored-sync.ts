import type { Logger } from 'pino';
import * as Y from 'yjs';
import { REMOTE } from './document-awareness.js';

/** The document an `UnstoredSync` serves. */
export interface UnstoredOwner {
  readonly doc: Y.Doc;
  readonly channel: string;
  /** What the size limit counts: what each change added here is added to it. */
  bytes: number;
  /** What a holder of state vector `sv` lacks (null: `sv` malformed). */
  diff(sv: Uint8Array): Uint8Array | null;
}

/** What a node that sent its state vector is answered (`update` null: it lacks nothing here). */
export interface UnstoredAnswer {
  update: Uint8Array | null;
  /** Its vector shows changes this node lacks: it is asked for them in turn. */
  askBack: boolean;
}

/**
 * The changes of a document that is not stored, between the nodes that hold it. There is
 * no log to read a lost relay back from, so the nodes compare state vectors instead: a node
 * that loads the document, or missed a relay, sends its vector; each holder answers with
 * what the sender lacks and asks back when the sender holds something it lacks, so both end
 * with the union. Whatever comes from another node is applied as a remote change: it goes
 * to this node's peers once (Yjs emits only what is new) and is not relayed again.
 */
export class UnstoredSync {
  /** This turn's changes made on this node, relayed together at its end. */
  #relaying: Uint8Array[] | null = null;

  constructor(
    private readonly owner: UnstoredOwner,
    private readonly deps: {
      relay(updates: Uint8Array[]): void;
      gone(): boolean;
      logger: Logger;
    },
  ) {
    // What each change added here, whoever made it (this node's clients, the server, another node): Yjs emits only what is
    // new, so an update sent again, or by several nodes, counts once. A stored document counts what it queues instead.
    owner.doc.on('update', (update: Uint8Array) => {
      owner.bytes += update.byteLength;
    });
  }

  /** A change made on this node: relayed with the others of this turn. */
  local(update: Uint8Array): void {
    if (this.#relaying) {
      this.#relaying.push(update);
      return;
    }
    this.#relaying = [update];
    setImmediate(() => {
      const updates = this.#relaying ?? [];
      this.#relaying = null;
      if (!this.deps.gone()) this.deps.relay(updates);
    });
  }

  /** Updates from another node: its relayed changes, or its answer to this node's state vector. */
  remote(updates: Uint8Array[]): void {
    if (this.deps.gone()) return;
    for (const update of updates) {
      try {
        Y.applyUpdate(this.owner.doc, update, REMOTE);
      } catch (err) {
        this.deps.logger.warn({ err, channel: this.owner.channel }, 'an update from another node could not be applied');
      }
    }
  }

  /** This node's state vector, for the other nodes to answer. */
  stateVector(): Uint8Array {
    return Y.encodeStateVector(this.owner.doc);
  }

  /** The answer to another node's state vector `sv`; null when `sv` is malformed or this document is gone. */
  answer(sv: Uint8Array): UnstoredAnswer | null {
    if (this.deps.gone()) return null;
    let theirs: Map<number, number>;
    try {
      theirs = Y.decodeStateVector(sv);
    } catch {
      return null;
    }
    const update = this.owner.diff(sv);
    if (update === null) return null;
    let askBack = false;
    for (const [client, clock] of theirs) if (clock > Y.getState(this.owner.doc.store, client)) askBack = true;
    // An update of no structs and no deletions is two bytes (both counts zero).
    return { update: update.byteLength > 2 ? update : null, askBack };
  }
}
