/** A scheduled callback; `cancel()` is O(1) and idempotent. */
export interface TimerHandle {
  cancel(): void;
}

/**
 * One scheduled callback. A class (not a closure per entry): a node holds several of these
 * per connection, so their size is part of the memory each idle connection costs.
 */
class Entry<A> implements TimerHandle {
  done = false;

  constructor(
    readonly at: number,
    readonly fn: (arg: A) => void,
    readonly arg: A,
    readonly slot: Set<Entry<unknown>>,
    readonly wheel: TimerWheel,
  ) {}

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.slot.delete(this as Entry<unknown>);
    this.wheel.removed();
  }
}

/**
 * One hashed timer wheel for every per-connection deadline (handshake, ping, pong,
 * token expiry, idle), instead of a Node timer per connection. Precision is one tick.
 */
export class TimerWheel {
  readonly #slots: Set<Entry<unknown>>[];
  #cursor: number;
  #interval: NodeJS.Timeout | null = null;
  #size = 0;

  constructor(
    private readonly tickMs = 50,
    slotCount = 1024,
    private readonly now: () => number = Date.now,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.#slots = Array.from({ length: slotCount }, () => new Set<Entry<unknown>>());
    this.#cursor = Math.floor(now() / tickMs);
  }

  get size(): number {
    return this.#size;
  }

  start(): void {
    if (this.#interval) return;
    this.#interval = setInterval(() => this.advance(), this.tickMs);
    this.#interval.unref();
  }

  stop(): void {
    if (this.#interval) clearInterval(this.#interval);
    this.#interval = null;
  }

  /**
   * Run `fn(arg)` after `delayMs`. Passing a shared function and its target as `arg`
   * (rather than a fresh closure) keeps per-connection deadlines allocation-light.
   */
  schedule(delayMs: number, fn: () => void): TimerHandle;
  schedule<A>(delayMs: number, fn: (arg: A) => void, arg: A): TimerHandle;
  schedule<A>(delayMs: number, fn: (arg: A) => void, arg?: A): TimerHandle {
    const at = this.now() + Math.max(0, delayMs);
    const slot = this.#slots[Math.floor(at / this.tickMs) % this.#slots.length] as Set<Entry<unknown>>;
    const entry = new Entry(at, fn, arg as A, slot, this);
    slot.add(entry as Entry<unknown>);
    this.#size++;
    return entry;
  }

  /** Called by an entry when it is cancelled. */
  removed(): void {
    this.#size--;
  }

  /** Run every entry that is due. Called by the interval; tests call it directly. */
  advance(): void {
    const target = Math.floor(this.now() / this.tickMs);
    // After a long stall, one pass over all slots is enough.
    const steps = Math.min(target - this.#cursor + 1, this.#slots.length);
    const now = this.now();
    for (let i = 0; i < steps; i++) {
      const slot = this.#slots[(this.#cursor + i) % this.#slots.length] as Set<Entry<unknown>>;
      for (const entry of slot) {
        if (entry.at > now) continue;
        slot.delete(entry);
        entry.done = true;
        this.#size--;
        try {
          entry.fn(entry.arg);
        } catch (err) {
          this.onError(err);
        }
      }
    }
    this.#cursor = target;
  }
}
