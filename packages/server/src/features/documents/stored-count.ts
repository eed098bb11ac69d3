/** An acknowledgement waiting for the updates queued before it to be written. */
interface Waiter {
  upTo: number;
  resolve: () => void;
}

/**
 * A document's updates queued and written since load, and the acknowledgements waiting on
 * them: `whenStored` resolves once every update queued before the call is written.
 */
export class StoredCount {
  #queued = 0;
  #stored = 0;
  #waiters: Waiter[] | null = null;

  /** Updates queued since load (the number of the last one). */
  get queuedTotal(): number {
    return this.#queued;
  }

  /** Updates written since load. */
  get storedTotal(): number {
    return this.#stored;
  }

  queued(): void {
    this.#queued++;
  }

  stored(count: number): void {
    this.#stored += count;
    if (this.#waiters === null) return;
    const still = this.#waiters.filter((w) => w.upTo > this.#stored);
    for (const w of this.#waiters) if (w.upTo <= this.#stored) w.resolve();
    this.#waiters = still.length > 0 ? still : null;
  }

  /** Resolves once every update queued so far is written (at once when none waits). */
  whenStored(): Promise<void> {
    if (this.#stored >= this.#queued) return Promise.resolve();
    const upTo = this.#queued;
    return new Promise((resolve) => {
      this.#waiters ??= [];
      this.#waiters.push({ upTo, resolve });
    });
  }
}
