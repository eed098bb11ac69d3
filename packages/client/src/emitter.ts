/** A listener for one event of an event map. */
export type Listener<T> = (payload: T) => void;

/** The subscribe side of a typed event emitter. */
export interface EventSource<E extends object> {
  /**
   * Listen to an event; returns a function that removes the listener.
   *
   * @example
   * const off = client.on('connected', (e) => setOnline(e.client));
   * off();
   */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void;
  /**
   * Listen to the next occurrence of an event only.
   *
   * @example
   * client.once('connected', () => showToast('online'));
   */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void;
  /**
   * Remove a listener added with `on`.
   *
   * @example
   * client.off('state', onState);
   */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void;
}

/**
 * A small typed event emitter. A listener that throws does not break the SDK's state
 * machine: the error is re-thrown in a microtask, where the host reports it.
 */
export class Emitter<E extends object> implements EventSource<E> {
  readonly #listeners = new Map<keyof E, Set<Listener<never>>>();

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  protected emit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.#listeners.get(event);
    if (set === undefined || set.size === 0) return;
    for (const listener of [...set] as Listener<E[K]>[]) {
      try {
        listener(payload);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
