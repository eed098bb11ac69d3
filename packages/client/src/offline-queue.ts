/**
 * A bounded FIFO of work that waits for a connection. `push` refuses new items when
 * full; `requeue` puts back items that were already accepted (in flight when the
 * connection dropped), in front and regardless of the bound, so none is lost.
 */
export class OfflineQueue<T> {
  readonly maxSize: number;
  #items: T[] = [];

  constructor(maxSize: number) {
    this.maxSize = maxSize;
  }

  get size(): number {
    return this.#items.length;
  }

  /** Add at the back; false when the queue is full. */
  push(item: T): boolean {
    if (this.#items.length >= this.maxSize) return false;
    this.#items.push(item);
    return true;
  }

  /** Put items back at the front, keeping their order. */
  requeue(items: readonly T[]): void {
    if (items.length > 0) this.#items = [...items, ...this.#items];
  }

  /** Remove and return every item, oldest first. */
  drain(): T[] {
    const items = this.#items;
    this.#items = [];
    return items;
  }
}
