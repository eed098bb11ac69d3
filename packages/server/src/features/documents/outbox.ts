import * as Y from 'yjs';
import { encodeAwareness, encodeUpdate } from './y-websocket-codec.js';

/** A connection of the document, as the outbox reaches it. */
interface Peer {
  send(message: Buffer): void;
}

/**
 * What a document sends its peers, gathered over one event-loop turn and sent once: the
 * turn's updates merged into one message (a peer gets the merge of the others' updates, not
 * its own), and the awareness states that changed in one message. A receiver then applies
 * one update per turn instead of one per change, and a connection gets one write per turn.
 */
export class PeerOutbox {
  #updates: Array<{ update: Uint8Array; origin: unknown }> = [];
  #awareness = new Set<number>();
  #scheduled = false;

  constructor(
    private readonly peers: ReadonlySet<Peer>,
    /** The encoded awareness update of these client ids, as the document holds them now. */
    private readonly awarenessOf: (ids: number[]) => Uint8Array,
    private readonly alive: () => boolean,
  ) {}

  update(update: Uint8Array, origin: unknown): void {
    if (this.peers.size === 0) return;
    this.#updates.push({ update, origin });
    this.#schedule();
  }

  awareness(ids: readonly number[]): void {
    if (this.peers.size === 0) return;
    for (const id of ids) this.#awareness.add(id);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.alive()) this.flush();
      else this.#clear();
    });
  }

  #clear(): void {
    this.#updates = [];
    this.#awareness.clear();
  }

  /** Send what the turn gathered. */
  flush(): void {
    const batch = this.#updates;
    const ids = [...this.#awareness];
    this.#clear();
    if (batch.length === 1) {
      const { update, origin } = batch[0] as { update: Uint8Array; origin: unknown };
      const message = encodeUpdate(update);
      for (const peer of this.peers) if (peer !== origin) peer.send(message);
    } else if (batch.length > 1) {
      const all = encodeUpdate(Y.mergeUpdates(batch.map((b) => b.update)));
      const origins = new Set(batch.map((b) => b.origin));
      // A peer that sent some of the turn's updates gets the merge of the rest (worked out once per such peer).
      for (const peer of this.peers) {
        if (!origins.has(peer)) {
          peer.send(all);
          continue;
        }
        const rest = batch.filter((b) => b.origin !== peer).map((b) => b.update);
        if (rest.length > 0) peer.send(encodeUpdate(rest.length === 1 ? (rest[0] as Uint8Array) : Y.mergeUpdates(rest)));
      }
    }
    if (ids.length > 0 && this.peers.size > 0) {
      const message = encodeAwareness(this.awarenessOf(ids));
      for (const peer of this.peers) peer.send(message);
    }
  }
}
