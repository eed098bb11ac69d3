import type { SwitchboardClient } from '@switchboard/client';
import type { ErrorBus } from './errors.js';
import { LoadedValue } from './loaded-value.js';
import { loaded } from './store.js';

/** A loaded list, newest first. */
export interface ListSnapshot<T> {
  readonly items: readonly T[];
  /** The cursor of the next (older) page: `loadMore()` fetches it; null: no older items. */
  readonly next: string | null;
}

/** How a live list reads pages and hears of new items. */
export interface ListSource<T> {
  page(cursor: string | undefined, limit: number): Promise<{ items: T[]; nextCursor: string | null }>;
  /** Listen to new or changed items (`item`) and to changes that need a reload (`reload`); returns the removal. */
  listen(item: (item: T) => void, reload: () => void): () => void;
  /** Whether a pushed item belongs in this list. */
  matches(item: T): boolean;
}

/** The most a refresh asks for at once (the servers' default largest page). */
const MAX_PAGE = 100;

/**
 * A paged list kept live: loaded when a hook listens and the client is connected (again
 * after every reconnect; as many items as are loaded then), new items merged in by id,
 * reloaded when the source says so.
 */
export class LiveList<T extends { id: string }> extends LoadedValue<ListSnapshot<T>> {
  readonly #source: ListSource<T>;
  readonly #pageSize: number;

  constructor(client: SwitchboardClient, source: ListSource<T>, pageSize: number, errors: ErrorBus) {
    super(
      client,
      errors,
      async (current) => {
        const page = await source.page(undefined, Math.min(MAX_PAGE, Math.max(pageSize, current?.items.length ?? 0)));
        return { items: page.items, next: page.nextCursor };
      },
      (list) =>
        source.listen(
          (item) => (list as LiveList<T>).#upsert(item),
          () => list.reload(),
        ),
    );
    this.#source = source;
    this.#pageSize = pageSize;
  }

  /** Fetch the next (older) page; resolves once it is in the list. */
  async loadMore(): Promise<void> {
    const current = this.store.get().data;
    if (!current?.next) return;
    const seq = this.seq;
    const page = await this.#source.page(current.next, this.#pageSize);
    if (seq !== this.seq) return;
    const known = new Set(current.items.map((i) => i.id));
    this.store.set(loaded({ items: [...current.items, ...page.items.filter((i) => !known.has(i.id))], next: page.nextCursor }));
  }

  #upsert(item: T): void {
    const current = this.store.get().data;
    if (current === undefined || !this.#source.matches(item)) return;
    this.store.set(loaded({ items: [item, ...current.items.filter((i) => i.id !== item.id)], next: current.next }));
  }
}
