/** One counter's last minute: a count per second, in a ring of 60 slots. */
interface Ring {
  /** The second (Unix s) each slot counts; a slot of an older second is stale. */
  seconds: Float64Array;
  counts: Uint32Array;
}

const SLOTS = 60;

/** Events per key over the last minute, in one-second slots (what `GET /stats` shows of publishes). */
export class MinuteCounts {
  readonly #rings = new Map<string, Ring>();

  add(key: string, now: number): void {
    const second = Math.floor(now / 1000);
    let ring = this.#rings.get(key);
    if (!ring) {
      ring = { seconds: new Float64Array(SLOTS).fill(-1), counts: new Uint32Array(SLOTS) };
      this.#rings.set(key, ring);
    }
    const i = second % SLOTS;
    if (ring.seconds[i] !== second) {
      ring.seconds[i] = second;
      ring.counts[i] = 0;
    }
    ring.counts[i] = (ring.counts[i] as number) + 1;
  }

  /** Events of the last 60 seconds, this one included. */
  total(key: string, now: number): number {
    const ring = this.#rings.get(key);
    if (!ring) return 0;
    const second = Math.floor(now / 1000);
    let n = 0;
    for (let i = 0; i < SLOTS; i++) if (second - (ring.seconds[i] as number) < SLOTS) n += ring.counts[i] as number;
    return n;
  }

  /** Forget keys with nothing in the last minute. */
  prune(now: number): void {
    for (const key of this.#rings.keys()) if (this.total(key, now) === 0) this.#rings.delete(key);
  }
}
