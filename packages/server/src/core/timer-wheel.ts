/** A scheduled callback; `cancel()` is O(1) and idempotent. */
export interface TimerHandle {
  cancel(): void;
}

interface Entry extends TimerHandle {
  at: number;
  fn: () => void;
  done: boolean;
}

/**
 * One hashed timer wheel for every per-connection deadline (handshake, ping, pong,
 * token expiry, idle), instead of a Node timer per connection. Precision is one tick.
 */
export class TimerWheel {
  readonly #slots: Set<Entry>[];
  #cursor: number;
  #interval: NodeJS.Timeout | null = null;
  #size = 0;

  constructor(
    private readonly tickMs = 50,
    slotCount = 1024,
    private readonly now: () => number = Date.now,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.#slots = Array.from({ length: slotCount }, () => new Set<Entry>());
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

  schedule(delayMs: number, fn: () => void): TimerHandle {
    const at = this.now() + Math.max(0, delayMs);
    const slot = this.#slots[Math.floor(at / this.tickMs) % this.#slots.length] as Set<Entry>;
    const entry: Entry = {
      at,
      fn,
      done: false,
      cancel: () => {
        if (entry.done) return;
        entry.done = true;
        this.#size--;
        slot.delete(entry);
      },
    };
    slot.add(entry);
    this.#size++;
    return entry;
  }

  /** Run every entry that is due. Called by the interval; tests call it directly. */
  advance(): void {
    const target = Math.floor(this.now() / this.tickMs);
    // After a long stall, one pass over all slots is enough.
    const steps = Math.min(target - this.#cursor + 1, this.#slots.length);
    const now = this.now();
    for (let i = 0; i < steps; i++) {
      const slot = this.#slots[(this.#cursor + i) % this.#slots.length] as Set<Entry>;
      for (const entry of slot) {
        if (entry.at > now) continue;
        slot.delete(entry);
        entry.done = true;
        this.#size--;
        try {
          entry.fn();
        } catch (err) {
          this.onError(err);
        }
      }
    }
    this.#cursor = target;
  }
}
