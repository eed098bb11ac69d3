import type { SwitchboardError } from '@switchboard/client';

/** Errors of work the hooks do on their own (subscribing, loading), for `useErrorListener`. */
export class ErrorBus {
  readonly #listeners = new Set<(error: SwitchboardError) => void>();

  on(listener: (error: SwitchboardError) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(error: SwitchboardError): void {
    for (const listener of [...this.#listeners]) listener(error);
  }
}
