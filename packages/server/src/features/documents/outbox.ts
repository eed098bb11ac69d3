import { mergeInChunks } from './snapshot.js';
import { encodeAwareness, encodeUpdate } from './y-websocket-codec.js';

/** A connection of the document, as the outbox reaches it. */
interface Peer {
  send(message: Buffer): void;
}

/** The document an outbox sends for (the document itself: no closure per document). */
export interface OutboxOwner {
  readonly peers: ReadonlySet<Peer>;
  /** Whether the document is gone (nothing is sent then). */
  readonly gone: boolean;
  /** The awareness update of these client ids, as the document holds them now. */
  readonly aware: { encode(ids: number[]): Uint8Array };
}

/**
 * What a document sends its peers, gathered over one event-loop turn and sent once: the
 * turn's updates merged into one message, the same bytes for every peer (one from a single
 * sender skips that sender), and the awareness states that changed in one message. A receiver then applies
 * one update per turn instead of one per change, and a connection gets one write per turn.
 * A busy document sends at most once per `window` ms: what comes sooner after a send waits
 * for the rest of the window and goes with it (one write per connection for all of it), while
 * a change after a quiet spell goes at the end of its turn.
 */
/** No updates: one shared empty list for every idle outbox and document (a list is made at the first update). */
export const NO_UPDATES: readonly never[] = Object.freeze([]);

/** `list` with `item` added: a new list when `list` is NO_UPDATES, else `list` itself. */
export function withUpdate<T>(list: readonly T[], item: T): readonly T[] {
  if (list === NO_UPDATES) return [item];
  (list as T[]).push(item);
  return list;
}

export class PeerOutbox {
  #updates: ReadonlyArray<{ update: Uint8Array; origin: unknown }> = NO_UPDATES;
  /** Awareness client ids changed since the last send (null: none; made at the first). */
  #awareness: Set<number> | null = null;
  #scheduled = false;
  /** When the last send began (performance.now()). */
  #lastSendAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly owner: OutboxOwner,
    /** Least time between two sends (ms; 0: once per turn). */
    private readonly window = 0,
  ) {}

  /** Nothing gathered and no send scheduled. */
  get idle(): boolean {
    return !this.#scheduled && this.#updates.length === 0 && this.#awareness === null;
  }

  update(update: Uint8Array, origin: unknown): void {
    if (this.owner.peers.size === 0) return;
    this.#updates = withUpdate(this.#updates, { update, origin });
    this.#schedule();
  }

  awareness(ids: readonly number[]): void {
    if (this.owner.peers.size === 0) return;
    this.#awareness ??= new Set();
    for (const id of ids) this.#awareness.add(id);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const wait = this.#lastSendAt + this.window - performance.now();
    if (wait <= 0) setImmediate(() => this.#send());
    else setTimeout(() => this.#send(), Math.ceil(wait));
  }

  #send(): void {
    this.#scheduled = false;
    if (this.owner.gone) {
      this.#clear();
      return;
    }
    this.#lastSendAt = performance.now();
    this.flush();
  }

  #clear(): void {
    this.#updates = NO_UPDATES;
    this.#awareness = null;
  }

  /** Send what the turn gathered. */
  flush(): void {
    const batch = this.#updates;
    const ids = [...(this.#awareness ?? [])];
    const peers = this.owner.peers;
    this.#clear();
    if (batch.length === 1) {
      const { update, origin } = batch[0] as { update: Uint8Array; origin: unknown };
      const message = encodeUpdate(update);
      for (const peer of peers) if (peer !== origin) peer.send(message);
    } else if (batch.length > 1) {
      // One merge and one message for everyone: a peer also gets its own updates back, which Yjs
      // applies as nothing (a merge per peer without its own would cost a merge per sender per turn).
      for (const merged of mergeInChunks(batch.map((b) => b.update))) {
        const all = encodeUpdate(merged);
        for (const peer of peers) peer.send(all);
      }
    }
    if (ids.length > 0 && peers.size > 0) {
      const message = encodeAwareness(this.owner.aware.encode(ids));
      for (const peer of peers) peer.send(message);
    }
  }
}
