/**
 * The pace of one metric subscription: at most `rate` frames a second on the server's clock,
 * each carrying every bucket that changed since the frame before.
 *
 * A pull model: the driver asks `take(now, congested)` whenever it likes (after ingest, on a
 * timer); a frame is built only when one is due (`1000 / rate` ms after the previous one) and
 * the connection is not congested. While it is congested nothing is built or queued: the
 * changed buckets keep merging into one pending set (so nothing is lost in the state), and
 * each interval that passed without a frame counts as one skipped update, told in the next
 * frame. Consecutive frames are at least `1000 / rate` ms apart, so no window of one second
 * holds more than `rate` of them.
 */
export class Pacer {
  /** Minimum ms between two frames. */
  readonly interval: number;
  /** Per series index, the starts of the buckets changed since the last frame. */
  readonly #pending = new Map<number, Set<number>>();
  #lastSent: number;
  #lastSkip: number;
  #skipped = 0;

  /** `sentAt`: when the first frame (the backfill) went out. */
  constructor(
    readonly rate: number,
    sentAt: number,
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError('a pacer needs a positive finite rate');
    this.interval = 1000 / rate;
    this.#lastSent = sentAt;
    this.#lastSkip = sentAt;
  }

  /** Whether some bucket changed since the last frame. */
  get pending(): boolean {
    return this.#pending.size > 0;
  }

  /** Updates skipped so far since the last frame. */
  get skipped(): number {
    return this.#skipped;
  }

  /** Buckets of series `series` changed. */
  mark(series: number, starts: Iterable<number>): void {
    let set = this.#pending.get(series);
    if (!set) {
      set = new Set();
      this.#pending.set(series, set);
    }
    for (const s of starts) set.add(s);
  }

  /**
   * The changes to send now, per series index with their starts ascending, and how many updates
   * were skipped before them; null when no frame is due (nothing changed, too soon after the
   * previous frame, or the connection is congested).
   */
  take(now: number, congested: boolean): { changes: Map<number, number[]>; skipped: number } | null {
    if (this.#pending.size === 0 || now - this.#lastSent < this.interval) return null;
    if (congested) {
      if (now - this.#lastSkip >= this.interval) {
        this.#skipped++;
        this.#lastSkip = now;
      }
      return null;
    }
    const changes = new Map<number, number[]>();
    for (const [i, set] of [...this.#pending].sort((a, b) => a[0] - b[0]))
      changes.set(
        i,
        [...set].sort((a, b) => a - b),
      );
    const skipped = this.#skipped;
    this.#pending.clear();
    this.#skipped = 0;
    this.#lastSent = now;
    this.#lastSkip = now;
    return { changes, skipped };
  }
}
