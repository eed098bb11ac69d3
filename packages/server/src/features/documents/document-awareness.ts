import { randomInt } from 'node:crypto';
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness';
import type * as Y from 'yjs';
import { type AwarenessEntry, decodeAwareness, encodeAwarenessEntries } from './y-websocket-codec.js';

/** The origin of what another node relayed: applied and sent to this node's peers, never stored again nor relayed back. */
export const REMOTE = Symbol('remote');

/** Most clients one awareness message may name. */
const MAX_AWARENESS_ENTRIES = 64;

/** An awareness client id that a peer on another node introduced, with that peer's user. */
interface RemoteOwner {
  node: string;
  user: string | null;
}

/** One awareness state as `entries` lists it. */
export interface AwarenessStateEntry {
  clientId: number;
  clock: number;
  state: Record<string, unknown>;
  /** Null: set by a peer of this node; else the node whose peer set it. */
  node: string | null;
}

/** What the awareness of a document tells the document (the document itself: no object or closure per document for it). */
export interface AwarenessSink {
  /** These client ids were set or removed: their states go to the document's peers. */
  awarenessChanged(ids: number[]): void;
  /** A change made by one of this node's peers (`user`: its user), for the other nodes. */
  relayAwareness(update: Uint8Array, user: string | null): void;
  /** Whether the document is gone (nothing is relayed then). */
  readonly gone: boolean;
}

/** What an awareness 'update' event says. */
interface Changes {
  added: number[];
  updated: number[];
  removed: number[];
}

/** The bookkeeping of a document's awareness. */
interface Books<P> {
  /** Awareness client ids by the peer that introduced them: a peer sets only its own. */
  owners: Map<number, P>;
  owned: Map<P, Set<number>>;
  /** Awareness client ids peers on other nodes introduced. */
  remoteOwners: Map<number, RemoteOwner>;
  /** The user of each peer that set awareness states (told to the other nodes with its changes). */
  users: Map<P, string | null>;
}

/** The books of a document nobody shared awareness in: empty, never written (every write comes after `#made`). */
const NO_BOOKS: Books<object> = Object.freeze({
  owners: new Map<number, object>(),
  owned: new Map<object, Set<number>>(),
  remoteOwners: new Map<number, RemoteOwner>(),
  users: new Map<object, string | null>(),
});

/**
 * What the y-protocols `Awareness` takes from a `Y.Doc`: a client id of its own (the server
 * never sets a state under it) and a 'destroy' event (never emitted: `destroy()` ends it). The
 * awareness does not depend on the document's content, so a document kept as its encoded state
 * (hibernated) keeps its awareness.
 */
function awarenessHost(): Y.Doc {
  return { clientID: randomInt(1, 2 ** 32 - 1), on() {}, off() {} } as unknown as Y.Doc;
}

/**
 * Who is in a document and where (Yjs awareness), with the rule that a connection sets
 * only the client ids it introduced. The y-protocols `Awareness` (and its timer) is made
 * when the first state arrives: a document nobody shares awareness in costs nothing here.
 */
export class DocumentAwareness<P extends object> {
  #awareness: Awareness | null = null;
  /** Who introduced which client id: made with the `Awareness` (nothing before the first state). */
  #books = NO_BOOKS as Books<P>;

  constructor(private readonly sink: AwarenessSink) {}

  #made(): Awareness {
    if (this.#awareness) return this.#awareness;
    const awareness = new Awareness(awarenessHost());
    awareness.setLocalState(null);
    awareness.on('update', (changes: Changes, origin: unknown) => this.#onChange(changes, origin));
    this.#awareness = awareness;
    this.#books = { owners: new Map(), owned: new Map(), remoteOwners: new Map(), users: new Map() };
    return awareness;
  }

  /** Every state by client id (empty when nobody shared one). */
  states(): Map<number, Record<string, unknown>> {
    return (this.#awareness?.getStates() as Map<number, Record<string, unknown>> | undefined) ?? new Map();
  }

  /**
   * Every state with its awareness clock and where it was set: `node` null for a state one of
   * this node's peers set, else the node whose peer set it (this node holds a copy).
   */
  entries(): AwarenessStateEntry[] {
    const awareness = this.#awareness;
    if (!awareness) return [];
    const out: AwarenessStateEntry[] = [];
    for (const [clientId, state] of awareness.getStates()) {
      const node = this.#books.owners.has(clientId) ? null : (this.#books.remoteOwners.get(clientId)?.node ?? undefined);
      if (node === undefined) continue;
      out.push({ clientId, clock: awareness.meta.get(clientId)?.clock ?? 0, state: state as Record<string, unknown>, node });
    }
    return out;
  }

  /** These client ids' states, encoded as one awareness update. */
  encode(ids: number[]): Uint8Array {
    return encodeAwarenessUpdate(this.#made(), ids);
  }

  /** The states a peer of this node set that are still there, in the order it introduced their ids. */
  statesOf(peer: P): Array<Record<string, unknown>> {
    const states = this.states();
    const out: Array<Record<string, unknown>> = [];
    for (const id of this.#books.owned.get(peer) ?? []) {
      const state = states.get(id);
      if (state) out.push(state);
    }
    return out;
  }

  /** Every state, encoded (answer to a query, and the first thing a peer gets); null when there is none. */
  encoded(): Uint8Array | null {
    const ids = [...this.states().keys()];
    return ids.length === 0 ? null : this.encode(ids);
  }

  /** A peer closed: its states are removed at once, for everyone. */
  leave(peer: P): void {
    if (!this.#awareness) return;
    const owned = this.#books.owned.get(peer);
    this.#books.users.delete(peer);
    if (!owned) return;
    this.#books.owned.delete(peer);
    for (const id of owned) this.#books.owners.delete(id);
    removeAwarenessStates(this.#awareness, [...owned], 'left');
  }

  /**
   * Apply a peer's awareness update: 'invalid' when malformed, 'awareness_owner' when it
   * names a client id another peer introduced (nothing applied).
   */
  apply(update: Uint8Array, from: P, user: string | null = null): 'applied' | 'invalid' | 'awareness_owner' {
    let entries: AwarenessEntry[];
    try {
      entries = decodeAwareness(update, MAX_AWARENESS_ENTRIES);
    } catch {
      return 'invalid';
    }
    for (const e of entries) {
      const owner = this.#books.owners.get(e.clientId);
      if (owner !== undefined && owner !== from) return 'awareness_owner';
      // An id introduced on another node is taken over only by the same user (a provider that reconnected here).
      const remote = this.#books.remoteOwners.get(e.clientId);
      if (remote !== undefined && (user === null || remote.user !== user)) return 'awareness_owner';
    }
    const awareness = this.#made();
    this.#books.users.set(from, user);
    // A state this document removed (its connection left, its node died) comes back with the clock it had: it is
    // taken with the clock after the removal's, and the provider, told so (the echo), carries on from there. One
    // taken over from another node (its provider reconnected here) skips a clock more: a removal of it that
    // another node makes when the old node dies (the old clock + 1) then never hides it.
    let reclocked = false;
    for (const e of entries) {
      const movedHere = this.#books.remoteOwners.delete(e.clientId);
      const meta = awareness.meta.get(e.clientId);
      if (e.state === 'null' || meta === undefined) continue;
      const floor = movedHere ? meta.clock + 2 : awareness.states.has(e.clientId) ? 0 : meta.clock + 1;
      if (e.clock < floor) {
        e.clock = floor;
        reclocked = true;
      }
    }
    if (reclocked) update = encodeAwarenessEntries(entries);
    let owned = this.#books.owned.get(from);
    if (!owned) {
      owned = new Set();
      this.#books.owned.set(from, owned);
    }
    for (const e of entries) {
      this.#books.owners.set(e.clientId, from);
      owned.add(e.clientId);
    }
    applyAwarenessUpdate(awareness, update, from);
    return 'applied';
  }

  /**
   * Awareness states a peer on another node set or removed (`node`, `user`: that peer's):
   * applied and sent to this node's peers. Ids a peer of this node introduced are left out.
   */
  applyRemote(update: Uint8Array, node: string, user: string | null): void {
    let entries: AwarenessEntry[];
    try {
      entries = decodeAwareness(update, MAX_AWARENESS_ENTRIES);
    } catch {
      return;
    }
    if (entries.some((e) => this.#books.owners.has(e.clientId))) return;
    const awareness = this.#made();
    for (const e of entries) {
      if (e.state === 'null') this.#books.remoteOwners.delete(e.clientId);
      else this.#books.remoteOwners.set(e.clientId, { node, user });
    }
    applyAwarenessUpdate(awareness, update, REMOTE);
  }

  /** A node is gone: the states its peers introduced are removed, for this node's peers. */
  nodeDown(node: string): void {
    const ids: number[] = [];
    for (const [id, owner] of this.#books.remoteOwners) if (owner.node === node) ids.push(id);
    for (const id of ids) this.#books.remoteOwners.delete(id);
    if (ids.length > 0 && this.#awareness) removeAwarenessStates(this.#awareness, ids, REMOTE);
  }

  /** The states this node's peers introduced, encoded with each peer's user (what a node that loaded the document late asks for). */
  local(): Array<{ update: Uint8Array; user: string | null }> {
    const out: Array<{ update: Uint8Array; user: string | null }> = [];
    const states = this.states();
    for (const [peer, ids] of this.#books.owned) {
      const live = [...ids].filter((id) => states.has(id));
      if (live.length > 0) out.push({ update: this.encode(live), user: this.#books.users.get(peer) ?? null });
    }
    return out;
  }

  #onChange(changes: Changes, origin: unknown): void {
    const ids = changes.added.concat(changes.updated, changes.removed);
    if (ids.length === 0) return;
    this.sink.awarenessChanged(ids);
    // A change of this node's peers (set, or removed when one left or timed out) goes to the other nodes; not
    // what another node relayed, nor the time-out here of a state another node's peer set (its node decides).
    if (origin === REMOTE || this.sink.gone) return;
    const own = ids.filter((id) => !this.#books.remoteOwners.has(id));
    if (own.length === 0) return;
    const user = typeof origin === 'object' && origin !== null ? (this.#books.users.get(origin as P) ?? null) : null;
    this.sink.relayAwareness(this.encode(own), user);
  }

  destroy(): void {
    this.#awareness?.destroy();
    this.#awareness = null;
  }
}
