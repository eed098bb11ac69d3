import { performance } from 'node:perf_hooks';

/** Samples kept: the estimate comes from the one with the shortest round trip among them. */
const SAMPLES = 12;
/** Reads of Redis time per calibration, one after the other (the shortest round trip wins). */
const READS = 3;
/** Without a sample answered faster than this (ms), the estimate is too loose: scripts read TIME. */
const MAX_RTT = 5;

/**
 * Redis time as this node estimates it: its monotonic clock plus an offset measured by the
 * heartbeats (Redis's TIME against the moment the heartbeat was sent, keeping the sample
 * with the shortest round trip of the last few). Scripts take this as their "now" instead
 * of calling TIME on every publish; every node's estimate follows the one Redis clock, so
 * a node's wall clock (skewed, or stepped by NTP) never matters.
 *
 * Measured from the send, the estimate is never behind Redis's clock and at most one round
 * trip ahead of it (the best of the last reads: well under a millisecond on a LAN; with no
 * read faster than 5 ms there is no estimate), and it never goes back on a node:
 * a rate bucket taken twice in a row never sees time run backwards, as it would with TIME
 * in one call and a low estimate in the next. Null until the first sample, and again after
 * a reconnect (Redis may be another host): scripts then call TIME themselves.
 */
export class RedisClock {
  #samples: Array<{ offset: number; rtt: number }> = [];
  #offset: number | null = null;
  #last = 0;

  /** A Redis time (ms) read by a command sent at `sentAt` and answered at `receivedAt` (performance.now()). */
  sample(redisMs: number, sentAt: number, receivedAt: number): void {
    const rtt = Math.max(0, receivedAt - sentAt);
    this.#samples.push({ offset: redisMs - sentAt, rtt });
    if (this.#samples.length > SAMPLES) this.#samples.shift();
    let best = this.#samples[0] as { offset: number; rtt: number };
    for (const s of this.#samples) if (s.rtt <= best.rtt) best = s;
    this.#offset = best.rtt <= MAX_RTT ? best.offset : null;
  }

  /**
   * Read Redis time a few times in a row (`read` answers TIME's seconds and microseconds)
   * and keep the best sample: a heartbeat's own round trip is often long (it queues behind
   * a pipeline), a bare read right after it rarely is.
   */
  async calibrate(read: () => Promise<[string, string]>): Promise<void> {
    for (let i = 0; i < READS; i++) {
      const sentAt = performance.now();
      const [seconds, micros] = await read();
      this.sample(Number(seconds) * 1000 + Number(micros) / 1000, sentAt, performance.now());
    }
  }

  /** Forget every sample (the connection to Redis was re-established). */
  reset(): void {
    this.#samples = [];
    this.#offset = null;
    this.#last = 0;
  }

  /** Redis time now (ms, with a fraction), or null before the first sample. */
  now(): number | null {
    if (this.#offset === null) return null;
    const now = Math.max(performance.now() + this.#offset, this.#last);
    this.#last = now;
    return now;
  }

  /** As `now`, formatted for a script argument ('' = the script reads TIME). */
  arg(): string {
    const now = this.now();
    return now === null ? '' : now.toFixed(3);
  }
}
