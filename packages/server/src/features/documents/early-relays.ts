/** What one node relayed of one document before storing it: the indices this node holds, and those not yet announced stored. */
interface Run {
  /** The sender's load of the document (an index counts from 1 in each load). */
  instance: number;
  /** This node received every update from `first` to `last` (a lost relay restarts the count). */
  first: number;
  last: number;
  /** Received, not yet announced stored, in index order. */
  pending: Array<{ k: number; update: Uint8Array }>;
}

/**
 * The updates other nodes relayed of one document before storing them (with the Redis engine
 * a node relays its clients' updates first and stores them after, so the other nodes' clients
 * get them without waiting for the write). Each sender numbers its document's updates
 * (1, 2, … per load); its stored announcement names the numbers it wrote, so this node knows
 * whether it already holds all of them (nothing to read) or must read the log. Until then
 * they are pending: if their sender dies first, this node stores them itself (Yjs applies an
 * update twice as once, so a copy in the log costs nothing but bytes).
 */
export class EarlyRelays {
  readonly #runs = new Map<string, Run>();

  /** `adopt`: store an update whose sender will not (it was relayed by a load of the document that is gone). */
  constructor(private readonly adopt: (update: Uint8Array) => void) {}

  /** `node` relayed its updates `after + 1` … `after + updates.length` of its load `instance`. */
  received(node: string, instance: number, after: number, updates: readonly Uint8Array[]): void {
    let run = this.#runs.get(node);
    if (run === undefined || run.instance !== instance) {
      if (run !== undefined) this.#orphan(run);
      run = { instance, first: after + 1, last: after, pending: [] };
      this.#runs.set(node, run);
    } else if (after !== run.last) run.first = after + 1;
    for (const [i, update] of updates.entries()) run.pending.push({ k: after + 1 + i, update });
    run.last = after + updates.length;
  }

  /**
   * `node` stored its updates `after + 1` … `upTo` of its load `instance`: true when this node
   * received every one of them early (they are applied here). None of them is pending now.
   */
  stored(node: string, instance: number, after: number, upTo: number): boolean {
    const run = this.#runs.get(node);
    if (run === undefined) return false;
    if (run.instance !== instance) {
      this.#runs.delete(node);
      this.#orphan(run);
      return false;
    }
    const kept = run.pending.findIndex((p) => p.k > upTo);
    run.pending.splice(0, kept === -1 ? run.pending.length : kept);
    return run.first <= after + 1 && run.last >= upTo;
  }

  /** `node` is gone: what it relayed and never announced stored is stored here. */
  nodeDown(node: string): void {
    const run = this.#runs.get(node);
    this.#runs.delete(node);
    if (run) this.#orphan(run);
  }

  /**
   * A load of the document on another node is gone (its node died, or restarted under the same
   * id, or it unloaded with an announcement lost): what it relayed and never announced stored
   * is stored here (a copy of what it did store costs bytes, nothing else).
   */
  #orphan(run: Run): void {
    for (const p of run.pending.splice(0)) this.adopt(p.update);
  }

  /** Whether any relayed update waits for its sender's write. */
  get pending(): boolean {
    for (const run of this.#runs.values()) if (run.pending.length > 0) return true;
    return false;
  }
}

/**
 * The sending side: a document's updates of one event-loop turn go to the other nodes at its
 * end (or before a write, whichever comes first), numbered in this load, before they are
 * stored. A batch that was not sent (too large) is read from the log by the other nodes.
 */
export class EarlyOut {
  #batch: Uint8Array[] | null = null;
  /** The number of the update before the batch's first. */
  #after = 0;
  /** The last number that was not relayed early (not sent, or stored by this node for another). */
  #notSentUpTo = 0;

  constructor(private readonly relay: (updates: Uint8Array[], after: number) => boolean) {}

  /** Update number `k` of this load, for the other nodes. */
  add(update: Uint8Array, k: number): void {
    if (this.#batch !== null) {
      this.#batch.push(update);
      return;
    }
    this.#batch = [update];
    this.#after = k - 1;
    setImmediate(() => this.send());
  }

  /** Send the batch now (a write of it is about to begin). */
  send(): void {
    const batch = this.#batch;
    this.#batch = null;
    if (batch !== null && !this.relay(batch, this.#after)) this.#notSentUpTo = Math.max(this.#notSentUpTo, this.#after + batch.length);
  }

  /** Update number `k` is not relayed early. */
  skipped(k: number): void {
    this.#notSentUpTo = Math.max(this.#notSentUpTo, k);
  }

  /** Whether every update numbered after `after` was relayed early. */
  allSentAfter(after: number): boolean {
    return this.#notSentUpTo <= after;
  }

  /** Whether a batch waits for the end of the turn. */
  get waiting(): boolean {
    return this.#batch !== null;
  }
}
