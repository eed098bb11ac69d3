import type { PublicationEvent, SwitchboardError } from '@switchboard/client';
import { type ErrorBus, offAll } from './errors.js';
import { memo } from './memo.js';
import type { Room } from './room.js';
import { failed, type HookResult, LOADING, loaded, Store } from './store.js';

/** A conflation key's value: a string, a number or a boolean (`1` and `"1"` are two keys). */
export type LatestKey = string | number | boolean;

/** How many publications of history seed the latest values after each subscribe, by default. */
export const LATEST_HISTORY = 100;

/** The value at a dot path of a publication's data, when it is a key (the server's conflation rule). */
export function keyAt(data: unknown, path: readonly string[]): LatestKey | undefined {
  let value: unknown = data;
  for (const name of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[name];
  }
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : undefined;
}

interface Entry {
  readonly offset: number;
  readonly epoch: string | null;
  readonly result: HookResult<unknown>;
}

/**
 * The latest publication per key of one channel (keys read at `path`, as the namespace's
 * `conflation.key`): seeded from the newest page of history after every subscribe, then
 * kept by live publications. One store per key asked for, so a hook re-renders only when
 * its key's value changes.
 */
export class LatestValues {
  readonly #path: readonly string[];
  readonly #values = new Map<LatestKey, Entry>();
  readonly #stores = new Map<LatestKey, Store<HookResult<unknown>>>();
  #refs = 0;
  #offs: Array<() => void> = [];
  #error: SwitchboardError | null = null;
  /** The subscribe whose history seeds the values (bumped by each subscribe and by release). */
  #seq = 0;
  #seeded = false;
  #epoch: string | null = null;

  readonly #room: Room;
  readonly #history: number;
  readonly #errors: ErrorBus;

  constructor(room: Room, path: string, history: number, errors: ErrorBus) {
    this.#room = room;
    this.#path = path.split('.');
    this.#history = history;
    this.#errors = errors;
  }

  /** The store of one key: loading until the first subscribe was seeded, then the latest data or null. */
  of(key: LatestKey): Store<HookResult<unknown>> {
    return memo(this.#stores, key, () => new Store<HookResult<unknown>>(this.#resultOf(key), { start: () => this.#retain(), stop: () => this.#release() }));
  }

  #resultOf(key: LatestKey): HookResult<unknown> {
    if (this.#error !== null) return failed(this.#error);
    if (!this.#seeded) return LOADING;
    return this.#values.get(key)?.result ?? NONE;
  }

  #retain(): void {
    if (this.#refs++ > 0) return;
    // Holding the room's status holds its subscription (made by the first store to start).
    this.#offs = [
      this.#room.status.subscribe(() => {
        const error = this.#room.status.get().error;
        if (error !== null && error !== this.#error) this.#fail(error);
      }),
      this.#room.onPublication((p) => this.#live(p)),
    ];
    const sub = this.#room.subscription;
    if (sub !== null) this.#offs.push(sub.on('subscribed', (e) => this.#seed(e.epoch)));
    const state = this.#room.status.get();
    if (state.error !== null) this.#fail(state.error);
    else if (sub?.state === 'subscribed') this.#seed(null);
  }

  #release(): void {
    if (--this.#refs > 0) return;
    offAll(this.#offs);
    this.#seq++;
    this.#seeded = false;
    this.#error = null;
    this.#epoch = null;
    this.#values.clear();
    for (const store of this.#stores.values()) store.set(LOADING);
  }

  /** After a subscribe: read the newest page of history, keep what is newer than what live publications brought. */
  #seed(epoch: string | null): void {
    const sub = this.#room.subscription;
    if (sub === null) return;
    const seq = ++this.#seq;
    // A new epoch is another stream (history was lost): offsets of the old one say nothing.
    if (epoch !== null) this.#epoch = epoch;
    const done = () => {
      if (seq !== this.#seq) return;
      this.#seeded = true;
      this.#publishAll();
    };
    if (this.#history <= 0) {
      done();
      return;
    }
    sub.history({ limit: this.#history, reverse: true }).then(
      (page) => {
        if (seq !== this.#seq) return;
        // Newest first: the first of each key is its latest.
        const seen = new Set<LatestKey>();
        for (const p of page.publications) {
          const key = keyAt(p.data, this.#path);
          if (key === undefined || seen.has(key)) continue;
          seen.add(key);
          this.#put(key, p.offset, p.data, page.epoch);
        }
        this.#epoch ??= page.epoch;
        done();
      },
      (error: SwitchboardError) => {
        if (seq !== this.#seq) return;
        // Without history the live values still come: report it, show what there is.
        this.#errors.emit(error);
        done();
      },
    );
  }

  #live(p: PublicationEvent): void {
    const key = keyAt(p.data, this.#path);
    if (key === undefined) return;
    if (this.#put(key, p.offset, p.data, this.#epoch) && this.#seeded) this.#stores.get(key)?.set(this.#resultOf(key));
  }

  /** Keep a value unless the key holds a newer one of the same stream (an unknown epoch, null, counts as the same). */
  #put(key: LatestKey, offset: number, data: unknown, epoch: string | null): boolean {
    const current = this.#values.get(key);
    const sameStream = current !== undefined && (current.epoch === epoch || current.epoch === null || epoch === null);
    if (sameStream && current.offset >= offset) return false;
    this.#values.set(key, { offset, epoch, result: current !== undefined && Object.is(current.result.data, data) ? current.result : loaded(data) });
    return true;
  }

  #publishAll(): void {
    for (const [key, store] of this.#stores) store.set(this.#resultOf(key));
  }

  #fail(error: SwitchboardError): void {
    this.#error = error;
    this.#seq++;
    this.#publishAll();
  }
}

/** A key without a value yet. */
const NONE: HookResult<null> = loaded(null);
