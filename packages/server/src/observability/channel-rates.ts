/** Seconds a channel's rate averages over. */
export const RATE_WINDOW_S = 10;
/** Channels followed at once per node; a publication to a new channel beyond this is not counted until stale ones are dropped. */
export const MAX_RATE_CHANNELS = 10_000;

/** One channel's last seconds: a count per second in a ring of `RATE_WINDOW_S` slots. */
interface Ring {
  /** The second (Unix s) each slot counts; a slot of an older second is stale. */
  seconds: Float64Array;
  counts: Uint32Array;
}

/**
 * Publications accepted on this node per channel key (`tenant|channel`) over the last
 * `RATE_WINDOW_S` seconds, for the channel list's publish rate. Memory is bounded: at most
 * `MAX_RATE_CHANNELS` rings of 10 slots (about 120 bytes each); when full, channels with
 * nothing in the window are dropped (at most once a second), and a new channel that still
 * finds no room is not counted.
 */
export class ChannelRates {
  readonly #rings = new Map<string, Ring>();
  #prunedAt = -1;

  add(key: string, now: number): void {
    const second = Math.floor(now / 1000);
    let ring = this.#rings.get(key);
    if (!ring) {
      if (this.#rings.size >= MAX_RATE_CHANNELS && !this.#prune(second)) return;
      ring = { seconds: new Float64Array(RATE_WINDOW_S).fill(-1), counts: new Uint32Array(RATE_WINDOW_S) };
      this.#rings.set(key, ring);
    }
    const i = second % RATE_WINDOW_S;
    if (ring.seconds[i] !== second) {
      ring.seconds[i] = second;
      ring.counts[i] = 0;
    }
    ring.counts[i] = (ring.counts[i] as number) + 1;
  }

  /** Publications per second of each channel of `tenant` whose name starts with `prefix`, over the window (only channels with some). */
  of(tenant: string, prefix: string, now: number): Array<[channel: string, perSecond: number]> {
    const start = `${tenant}|${prefix}`;
    const second = Math.floor(now / 1000);
    const out: Array<[string, number]> = [];
    for (const [key, ring] of this.#rings) {
      if (!key.startsWith(start)) continue;
      const n = total(ring, second);
      if (n > 0) out.push([key.slice(tenant.length + 1), n / RATE_WINDOW_S]);
    }
    return out;
  }

  /** Channels followed now (for tests of the bound). */
  get size(): number {
    return this.#rings.size;
  }

  /** Drop the channels with nothing in the window; true when that made room. */
  #prune(second: number): boolean {
    if (this.#prunedAt !== second) {
      this.#prunedAt = second;
      for (const [key, ring] of this.#rings) if (total(ring, second) === 0) this.#rings.delete(key);
    }
    return this.#rings.size < MAX_RATE_CHANNELS;
  }
}

function total(ring: Ring, second: number): number {
  let n = 0;
  for (let i = 0; i < RATE_WINDOW_S; i++) if (second - (ring.seconds[i] as number) < RATE_WINDOW_S) n += ring.counts[i] as number;
  return n;
}
