/** One acquire waiting for a key: tried again each time the key is freed, first come first served on this node. */
export interface Waiter {
  client: string;
  /** Try to take the key: true when granted (the waiter is then done). */
  attempt(): Promise<boolean>;
  /** Give up: the wait ran out, the connection closed or the service stopped. */
  abandon(reason: 'timeout' | 'closed'): void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The acquires waiting on this node, per lease key, in arrival order. When a key is freed
 * (on any node: a node message nudges every node) the first waiter tries; only when it
 * gets the key does the next one wait for the next release.
 */
export class WaitQueues {
  readonly #queues = new Map<string, Waiter[]>();
  readonly #draining = new Set<string>();
  readonly #again = new Set<string>();

  add(leaseKey: string, waiter: Waiter): void {
    const queue = this.#queues.get(leaseKey);
    if (queue) queue.push(waiter);
    else this.#queues.set(leaseKey, [waiter]);
  }

  remove(leaseKey: string, waiter: Waiter): void {
    const queue = this.#queues.get(leaseKey);
    if (!queue) return;
    const i = queue.indexOf(waiter);
    if (i >= 0) queue.splice(i, 1);
    if (queue.length === 0) this.#queues.delete(leaseKey);
    if (waiter.timer) clearTimeout(waiter.timer);
  }

  /**
   * The key was freed: let the first waiter try (a waiter that fails keeps its place). A
   * release told while a try is in flight makes one more pass, so no release is missed.
   */
  async freed(leaseKey: string): Promise<void> {
    if (this.#draining.has(leaseKey)) {
      this.#again.add(leaseKey);
      return;
    }
    this.#draining.add(leaseKey);
    try {
      for (let pass = 0; pass < 16; pass++) {
        this.#again.delete(leaseKey);
        const first = this.#queues.get(leaseKey)?.[0];
        if (first && (await first.attempt())) {
          this.remove(leaseKey, first);
          break;
        }
        if (!this.#again.has(leaseKey)) break;
      }
    } finally {
      this.#draining.delete(leaseKey);
      this.#again.delete(leaseKey);
    }
  }

  /** Abandon every wait of a connection that closed. */
  dropClient(client: string): void {
    for (const [leaseKey, queue] of [...this.#queues]) {
      for (const w of queue.filter((w) => w.client === client)) {
        this.remove(leaseKey, w);
        w.abandon('closed');
      }
    }
  }

  clear(): void {
    for (const [leaseKey, queue] of [...this.#queues]) {
      for (const w of [...queue]) {
        this.remove(leaseKey, w);
        w.abandon('closed');
      }
    }
  }
}
