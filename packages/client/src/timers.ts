/** Timer functions, injectable so tests can drive time. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The global timers, looked up at call time so fake timers installed later still apply. */
export const globalTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
};

/** A one-shot timer slot: setting it again cancels the previous timer. */
export class TimerSlot {
  readonly #timers: Timers;
  #handle: unknown = undefined;
  #armed = false;

  constructor(timers: Timers) {
    this.#timers = timers;
  }

  get armed(): boolean {
    return this.#armed;
  }

  set(ms: number, callback: () => void): void {
    this.clear();
    this.#armed = true;
    this.#handle = this.#timers.setTimeout(
      () => {
        this.#armed = false;
        this.#handle = undefined;
        callback();
      },
      Math.max(0, ms),
    );
  }

  clear(): void {
    if (!this.#armed) return;
    this.#timers.clearTimeout(this.#handle);
    this.#armed = false;
    this.#handle = undefined;
  }
}
