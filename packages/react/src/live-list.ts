import type { SwitchboardClient, SwitchboardError } from '@switchboard/client';
import { type ErrorBus, offAll } from './errors.js';
import { ClientCode } from './externals.js';
import { failed, type HookResult, LOADING, loaded, Store } from './store.js';

/** A loaded list, newest first. */
export interface ListSnapshot<T> {
  readonly items: readonly T[];
  /** Older items exist: `loadMore()` fetches the next page. */
  readonly hasMore: boolean;
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
 * after every reconnect), new items merged in by id, reloaded when the source says so.
 */
export class LiveList<T extends { id: string }> {
  readonly store = new Store<HookResult<ListSnapshot<T>>>(LOADING, { start: () => this.#start(), stop: () => this.#stop() });
  #offs: Array<() => void> = [];
  #cursor: string | null = null;
  /** Bumped by every reload, so an older answer that arrives late is dropped. */
  #seq = 0;

  readonly #client: SwitchboardClient;
  readonly #source: ListSource<T>;
  readonly #pageSize: number;
  readonly #errors: ErrorBus;

  constructor(client: SwitchboardClient, source: ListSource<T>, pageSize: number, errors: ErrorBus) {
    this.#client = client;
    this.#source = source;
    this.#pageSize = pageSize;
    this.#errors = errors;
  }

  #start(): void {
    this.#offs = [
      this.#client.on('connected', () => this.reload()),
      this.#source.listen(
        (item) => this.#upsert(item),
        () => this.reload(),
      ),
    ];
    if (this.#client.state === 'connected') this.reload();
  }

  #stop(): void {
    offAll(this.#offs);
    this.#seq++;
    this.store.set(LOADING);
  }

  /** Fetch the first page again, as many items as are loaded now. */
  reload(): void {
    const seq = ++this.#seq;
    const loadedCount = this.store.get().data?.items.length ?? 0;
    const limit = Math.min(MAX_PAGE, Math.max(this.#pageSize, loadedCount));
    this.#source.page(undefined, limit).then(
      (page) => {
        if (seq !== this.#seq) return;
        this.#cursor = page.nextCursor;
        this.store.set(loaded({ items: page.items, hasMore: page.nextCursor !== null }));
      },
      (error: SwitchboardError) => this.#fail(seq, error),
    );
  }

  /** Fetch the next (older) page; resolves once it is in the list. */
  async loadMore(): Promise<void> {
    const current = this.store.get().data;
    if (!current?.hasMore || this.#cursor === null) return;
    const seq = this.#seq;
    const page = await this.#source.page(this.#cursor, this.#pageSize);
    if (seq !== this.#seq) return;
    this.#cursor = page.nextCursor;
    const known = new Set(current.items.map((i) => i.id));
    const items = [...current.items, ...page.items.filter((i) => !known.has(i.id))];
    this.store.set(loaded({ items, hasMore: page.nextCursor !== null }));
  }

  #upsert(item: T): void {
    const current = this.store.get().data;
    if (current === undefined || !this.#source.matches(item)) return;
    const items = [item, ...current.items.filter((i) => i.id !== item.id)];
    this.store.set(loaded({ items, hasMore: current.hasMore }));
  }

  #fail(seq: number, error: SwitchboardError): void {
    // The connection dropped mid-call: the reload after the next connect answers instead.
    if (seq !== this.#seq || error.code === ClientCode.ConnectionClosed.code) return;
    this.#errors.emit(error);
    this.store.set(failed(error, this.store.get().data));
  }
}
