/**
 * The pace of one metric subscription: at most `rate` frames a second on the server's clock,
 * each carrying every bucket that changed since the frame before (the subscription keeps
 * track of which: the pacer only decides when).
 *
 * A pull model: the driver asks `take(now, congested, pending)` whenever it likes (after
 * ingest, on a timer), telling whether some bucket changed since the last frame; a frame is
 * due only when one changed, `1000 / rate` ms passed since the previous frame, and the
 * connection is not congested. While it is congested nothing is built or queued: the changed
 * buckets keep adding up (so nothing is lost in the state), and each interval that passed
 * without a frame counts as one skipped update, told in the next frame. Consecutive frames are
 * at least `1000 / rate` ms apart, so no window of one second holds more than `rate` of them.
 */
export class Pacer {
  /** Minimum ms between two frames. */
  readonly interval: number;
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

  /** Updates skipped so far since the last frame. */
  get skipped(): number {
    return this.#skipped;
  }

  /** Whether a frame could go out at `now` were something pending (the interval since the last one passed). */
  ready(now: number): boolean {
    return now - this.#lastSent >= this.interval;
  }

  /**
   * Whether a frame is due now, and how many updates were skipped before it: null when none is
   * (nothing `pending`, too soon after the previous frame, or the connection is congested).
   * A frame due is taken as sent at `now`.
   */
  take(now: number, congested: boolean, pending: boolean): { skipped: number } | null {
    if (!pending || now - this.#lastSent < this.interval) return null;
    if (congested) {
      // Every interval that passed counts, however seldom the pacer is asked.
      const passed = Math.floor((now - this.#lastSkip) / this.interval);
      if (passed > 0) {
        this.#skipped += passed;
        this.#lastSkip += passed * this.interval;
      }
      return null;
    }
    const skipped = this.#skipped;
    this.#skipped = 0;
    this.#lastSent = now;
    this.#lastSkip = now;
    return { skipped };
  }
}
