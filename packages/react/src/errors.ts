import type { SwitchboardError } from '@switchboard/client';

/** Listeners of one kind of event: `on` adds one and returns its removal, `emit` calls each. */
export class Emitter<T> {
  readonly #listeners = new Set<(event: T) => void>();

  on(listener: (event: T) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: T): void {
    for (const listener of [...this.#listeners]) listener(event);
  }
}

/** Errors of work the hooks do on their own (subscribing, loading), for `useErrorListener`. */
export class ErrorBus extends Emitter<SwitchboardError> {}

/** Call and forget every removal in `offs`. */
export function offAll(offs: Array<() => void>): void {
  for (const off of offs.splice(0)) off();
}
