import type { Timers } from '@switchboard/client';

interface Due {
  at: number;
  fn: () => void;
}

/**
 * A clock that moves only when the test moves it: the server's `now` (token checks, minted
 * tokens, connection deadlines) and an SDK client's `now` and `timers` (refresh, reconnect
 * delays). Token expiry and refresh then take no wall-clock time. Sockets stay real.
 */
export class ManualClock {
  #now: number;
  #nextId = 1;
  readonly #due = new Map<number, Due>();
  readonly #onMove: Array<() => void> = [];

  /** Starts at the current whole second, so `exp` (whole seconds) edges fall on known instants. */
  constructor(start = Math.floor(Date.now() / 1000) * 1000) {
    this.#now = start;
  }

  readonly now = (): number => this.#now;

  /** Timers for an SDK client: they fire only when the clock is moved past them. */
  readonly timers: Timers = {
    setTimeout: (fn, ms) => {
      const id = this.#nextId++;
      this.#due.set(id, { at: this.#now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout: (handle) => {
      this.#due.delete(handle as number);
    },
  };

  /** Run `hook` at every instant the clock is moved to, e.g. `() => server.node.wheel.advance()`. */
  onMove(hook: () => void): void {
    this.#onMove.push(hook);
  }

  /** When the earliest pending timer is due (Unix ms), or undefined when none is. */
  nextDue(): number | undefined {
    return this.#earliest(Number.POSITIVE_INFINITY)?.[1].at;
  }

  /** Move forward by `ms`; see `advanceTo`. */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  /** Move forward to `ms` (Unix ms), stopping at each timer due on the way, in order, to run it. */
  advanceTo(ms: number): void {
    for (let next = this.#earliest(ms); next; next = this.#earliest(ms)) {
      this.#due.delete(next[0]);
      this.#moveTo(next[1].at);
      next[1].fn();
    }
    this.#moveTo(ms);
  }

  #earliest(until: number): [number, Due] | undefined {
    let found: [number, Due] | undefined;
    for (const entry of this.#due) if (entry[1].at <= until && (!found || entry[1].at < found[1].at)) found = entry;
    return found;
  }

  #moveTo(ms: number): void {
    this.#now = Math.max(this.#now, ms);
    for (const hook of this.#onMove) hook();
  }
}
