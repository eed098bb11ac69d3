import { windowStart } from './frame-encoder.js';

/**
 * The changed buckets of one followed store at one step: each bucket start once, with the
 * version of its latest change, in version order. A write marks it once however many
 * subscriptions follow the store; a subscription reads the starts changed after the version
 * of its previous frame (`since`), so the starts it gets are exactly the ones changed since.
 *
 * Starts older than the widest window of the followers (and one window more) are dropped now
 * and then: no follower's frame could carry them, its window starts later. Whether anything
 * changed at all (`last`) never forgets, so a follower still gets its frame.
 */
export class StepLog {
  /** The version of the latest change (0: none yet). */
  last = 0;
  /** Subscription series that follow this log (a subscription naming the store twice counts twice). */
  followers = 0;
  /** The widest window (ms) of the subscriptions that ever followed this log. */
  #window = 0;
  readonly #starts: number[] = [];
  readonly #versions: number[] = [];
  #pruneAt = 16;

  constructor(
    /** Tells one log from another in a frame builder's cache. */
    readonly id: number,
    readonly step: number,
  ) {}

  /** A subscription with a window of `window` ms follows the log. */
  follow(window: number): void {
    this.followers++;
    if (window > this.#window) {
      this.#window = window;
      this.#pruneAt = Math.max(this.#pruneAt, 2 * Math.ceil(window / this.step) + 16);
    }
  }

  /** The buckets at `starts` changed in the write of `version` (higher than any before), at `now`. */
  mark(version: number, starts: readonly number[], now: number): void {
    const all = this.#starts;
    for (const s of starts) {
      const n = all.length;
      // The open bucket takes most writes: it is the newest entry already.
      if (n > 0 && all[n - 1] === s) {
        this.#versions[n - 1] = version;
        continue;
      }
      const at = all.lastIndexOf(s);
      if (at >= 0) {
        all.splice(at, 1);
        this.#versions.splice(at, 1);
      }
      all.push(s);
      this.#versions.push(version);
    }
    this.last = version;
    if (all.length > this.#pruneAt) this.#prune(now);
  }

  /** Appends to `out` the starts changed after `version` (newest change first). */
  since(version: number, out: number[]): void {
    const versions = this.#versions;
    for (let j = versions.length - 1; j >= 0 && (versions[j] as number) > version; j--) out.push(this.#starts[j] as number);
  }

  /** Starts held (for tests). */
  get size(): number {
    return this.#starts.length;
  }

  #prune(now: number): void {
    const before = windowStart(now, this.step, this.#window) - this.#window;
    let kept = 0;
    for (let j = 0; j < this.#starts.length; j++) {
      const s = this.#starts[j] as number;
      if (s < before) continue;
      this.#starts[kept] = s;
      this.#versions[kept] = this.#versions[j] as number;
      kept++;
    }
    this.#starts.length = kept;
    this.#versions.length = kept;
    this.#pruneAt = Math.max(this.#pruneAt, 2 * kept + 16);
  }
}
