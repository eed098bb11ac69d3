import type { SwitchboardError } from '@switchboard/client';

/** What every plain hook returns: the same object until something changed. */
export interface HookResult<T> {
  readonly data: T | undefined;
  readonly isLoading: boolean;
  readonly error: SwitchboardError | null;
}

/** The snapshot of anything not loaded yet; also every hook's server snapshot. */
export const LOADING: HookResult<never> = Object.freeze({ data: undefined, isLoading: true, error: null });

export const loaded = <T>(data: T): HookResult<T> => Object.freeze({ data, isLoading: false, error: null });
export const failed = <T>(error: SwitchboardError, data?: T): HookResult<T> => Object.freeze({ data, isLoading: false, error });

type Listener = () => void;

/**
 * A value read by `useSyncExternalStore`: `get()` returns the same object until `set` gives
 * a new one. `start` runs when the first listener arrives, `stop` a microtask after the last
 * one left — so StrictMode's unmount-and-mount in one commit keeps what `start` opened.
 */
export class Store<S> {
  #snapshot: S;
  readonly #listeners = new Set<Listener>();
  #active = false;
  #holds = 0;

  readonly #lifecycle: { start?: () => void; stop?: () => void };

  constructor(initial: S, lifecycle: { start?: () => void; stop?: () => void } = {}) {
    this.#snapshot = initial;
    this.#lifecycle = lifecycle;
  }

  readonly get = (): S => this.#snapshot;

  /** Started: some hook listens (or a suspended one waits). */
  get active(): boolean {
    return this.#active;
  }

  set(next: S): void {
    if (Object.is(next, this.#snapshot)) return;
    this.#snapshot = next;
    for (const listener of [...this.#listeners]) listener();
  }

  readonly subscribe = (listener: Listener): (() => void) => {
    this.#listeners.add(listener);
    this.#holds = 0;
    if (!this.#active) {
      this.#active = true;
      this.#lifecycle.start?.();
    }
    return () => {
      if (this.#listeners.delete(listener)) this.#idle();
    };
  };

  /**
   * Keep the store started while a suspended component waits for it: until it mounts and
   * subscribes, or at most `ms` (a component that never mounts).
   */
  hold(ms = 10_000): void {
    if (!this.#active) {
      this.#active = true;
      this.#lifecycle.start?.();
    }
    this.#holds++;
    setTimeout(() => {
      if (this.#holds > 0) this.#holds--;
      this.#idle();
    }, ms);
  }

  #idle(): void {
    queueMicrotask(() => {
      if (!this.#active || this.#listeners.size > 0 || this.#holds > 0) return;
      this.#active = false;
      this.#lifecycle.stop?.();
    });
  }

  /** Resolve once the snapshot passes `done` (for Suspense). */
  until(done: (s: S) => boolean): Promise<void> {
    if (done(this.#snapshot)) return Promise.resolve();
    this.hold();
    return new Promise((resolve) => {
      const check = () => {
        if (!done(this.#snapshot)) return;
        this.#listeners.delete(check);
        resolve();
      };
      this.#listeners.add(check);
    });
  }
}
