/**
 * A bounded FIFO of work that waits for a connection. `push` refuses new items when
 * full; `requeue` puts back items that were already accepted (in flight when the
 * connection dropped), in front and regardless of the bound, so none is lost.
 * `onChange` hears the new size after every change.
 */
export class OfflineQueue<T> {
  readonly maxSize: number;
  readonly #onChange: ((size: number) => void) | undefined;
  #items: T[] = [];

  constructor(maxSize: number, onChange?: (size: number) => void) {
    this.maxSize = maxSize;
    this.#onChange = onChange;
  }

  get size(): number {
    return this.#items.length;
  }

  /** Add at the back; false when the queue is full. */
  push(item: T): boolean {
    if (this.#items.length >= this.maxSize) return false;
    this.#items.push(item);
    this.#onChange?.(this.#items.length);
    return true;
  }

  /** Put items back at the front, keeping their order. */
  requeue(items: readonly T[]): void {
    if (items.length === 0) return;
    this.#items = [...items, ...this.#items];
    this.#onChange?.(this.#items.length);
  }

  /** Remove and return every item, oldest first. */
  drain(): T[] {
    const items = this.#items;
    this.#items = [];
    if (items.length > 0) this.#onChange?.(0);
    return items;
  }
}
