import type { SwitchboardClient, SwitchboardError } from '@switchboard/client';
import { type ErrorBus, offAll } from './errors.js';
import { ClientCode } from './externals.js';
import { failed, type HookResult, LOADING, loaded, Store } from './store.js';

/**
 * A value loaded while a hook listens: when the client is connected, again after every
 * reconnect and on `reload()`; `listen` (called with it on start) keeps it current between
 * loads by pushes. The base of the live lists, the unread count and the preferences.
 */
export class LoadedValue<T> {
  readonly store = new Store<HookResult<T>>(LOADING, { start: () => this.#start(), stop: () => this.#stop() });
  /** Bumped by every load and by stop, so an older answer that arrives late is dropped. */
  seq = 0;
  #offs: Array<() => void> = [];
  readonly #client: SwitchboardClient;
  readonly #errors: ErrorBus;
  readonly #load: (current: T | undefined) => Promise<T>;
  readonly #listen: (value: LoadedValue<T>) => () => void;

  constructor(client: SwitchboardClient, errors: ErrorBus, load: (current: T | undefined) => Promise<T>, listen: (value: LoadedValue<T>) => () => void) {
    this.#client = client;
    this.#errors = errors;
    this.#load = load;
    this.#listen = listen;
  }

  #start(): void {
    this.#offs = [this.#client.on('connected', () => this.reload()), this.#listen(this)];
    if (this.#client.state === 'connected') this.reload();
  }

  #stop(): void {
    offAll(this.#offs);
    this.seq++;
    this.store.set(LOADING);
  }

  /** Load it again (the loader sees what is loaded now). */
  reload(): void {
    const seq = ++this.seq;
    this.#load(this.store.get().data).then(
      (value) => {
        if (seq === this.seq) this.store.set(loaded(value));
      },
      (error: SwitchboardError) => {
        // The connection dropped mid-call: the reload after the next connect answers instead.
        if (seq !== this.seq || error.code === ClientCode.ConnectionClosed.code) return;
        this.#errors.emit(error);
        this.store.set(failed(error, this.store.get().data));
      },
    );
  }
}
