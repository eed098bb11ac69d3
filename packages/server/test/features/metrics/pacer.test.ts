import { describe, expect, it } from 'vitest';
import { StepLog } from '../../../src/features/metrics/change-log.js';
import { Pacer } from '../../../src/features/metrics/pacer.js';

const T0 = 1_700_000_040_000;

/**
 * A pacer with the change logs of its series (0, 1, 2; 1 s buckets, a 10 s window), the way a
 * subscription drives them: `mark` is a write, `take` a frame with the starts changed since
 * the previous one, per series index ascending, each ascending.
 */
class Paced {
  readonly pacer: Pacer;
  readonly logs = [0, 1, 2].map((i) => new StepLog(i + 1, 1000));
  #version = 0;
  #since = 0;

  constructor(rate: number, sentAt: number) {
    this.pacer = new Pacer(rate, sentAt);
    for (const log of this.logs) log.follow(10_000);
  }

  get pending(): boolean {
    return this.logs.some((l) => l.last > this.#since);
  }

  get skipped(): number {
    return this.pacer.skipped;
  }

  mark(series: number, starts: number[], now = T0): void {
    this.logs[series]?.mark(++this.#version, starts, now);
  }

  take(now: number, congested: boolean): { changes: Map<number, number[]>; skipped: number } | null {
    const due = this.pacer.take(now, congested, this.pending);
    if (!due) return null;
    const changes = new Map<number, number[]>();
    this.logs.forEach((log, i) => {
      const starts: number[] = [];
      log.since(this.#since, starts);
      if (starts.length > 0)
        changes.set(
          i,
          starts.sort((a, b) => a - b),
        );
    });
    this.#since = this.#version;
    return { changes, skipped: due.skipped };
  }
}

/** Frames a pacer lets out when asked every `tick` ms for `duration` ms, with a change before every ask. */
function run(rate: number, tick: number, duration: number, congested: (t: number) => boolean = () => false) {
  const p = new Paced(rate, T0);
  const sent: Array<{ at: number; skipped: number; starts: number[] }> = [];
  for (let t = T0 + tick; t <= T0 + duration; t += tick) {
    p.mark(0, [t - (t % 1000)], t);
    const due = p.take(t, congested(t));
    if (due) sent.push({ at: t, skipped: due.skipped, starts: due.changes.get(0) ?? [] });
  }
  return { p, sent };
}

function perSecond(times: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const t of times) counts.set(Math.floor(t / 1000), (counts.get(Math.floor(t / 1000)) ?? 0) + 1);
  return counts;
}

describe('metric subscription pacer', () => {
  it('lets out at most `rate` frames in any second, whatever the change rate', () => {
    for (const rate of [1, 3, 5, 7, 10]) {
      for (const tick of [1, 7, 50]) {
        const { sent } = run(rate, tick, 30_000);
        const times = [T0, ...sent.map((s) => s.at)]; // the backfill counts
        for (let i = 0; i < times.length; i++) {
          // every window [t, t + 1000) starting at a frame holds at most `rate` frames
          const inWindow = times.filter((x) => x >= (times[i] as number) && x < (times[i] as number) + 1000).length;
          expect(inWindow).toBeLessThanOrEqual(rate);
        }
        for (const n of perSecond(times).values()) expect(n).toBeLessThanOrEqual(rate);
        // and it does not starve: at least rate − 1 frames each second of a steady stream
        const full = [...perSecond(sent.map((s) => s.at))].filter(([s]) => s > T0 / 1000 && s < (T0 + 30_000) / 1000 - 1);
        for (const [, n] of full) expect(n).toBeGreaterThanOrEqual(rate - 1);
      }
    }
  });

  it('sends nothing when nothing changed, and the next change once the interval passed', () => {
    const p = new Paced(5, T0);
    expect(p.take(T0 + 1000, false)).toBeNull();
    p.mark(1, [T0]);
    expect(p.take(T0 + 199, false)).toBeNull();
    expect(p.take(T0 + 200, false)).toEqual({ changes: new Map([[1, [T0]]]), skipped: 0 });
    expect(p.pending).toBe(false);
  });

  it('counts every interval skipped while congested, however seldom it is asked', () => {
    const p = new Paced(10, T0);
    p.mark(0, [T0]);
    // Asked three times in 3 s of congestion: 30 intervals passed.
    expect(p.take(T0 + 150, true)).toBeNull();
    expect(p.take(T0 + 1_490, true)).toBeNull();
    expect(p.take(T0 + 3_000, true)).toBeNull();
    expect(p.skipped).toBe(30);
    expect(p.take(T0 + 3_050, false)?.skipped).toBe(30);
  });

  it('merges the changes of the frames it could not send while congested and counts them as skipped', () => {
    const p = new Paced(10, T0);
    p.mark(0, [T0 + 2000, T0]);
    p.mark(2, [T0 + 1000]);
    // congested for 1 s: ten intervals pass, no frame is built
    for (let t = T0 + 100; t <= T0 + 1000; t += 25) {
      expect(p.take(t, true)).toBeNull();
      p.mark(0, [T0 + 1000], t);
    }
    expect(p.skipped).toBe(10);
    const due = p.take(T0 + 1010, false);
    expect(due).toEqual({
      changes: new Map([
        [0, [T0, T0 + 1000, T0 + 2000]],
        [2, [T0 + 1000]],
      ]),
      skipped: 10,
    });
    // the count starts again after a frame
    p.mark(0, [T0]);
    expect(p.take(T0 + 1110, false)?.skipped).toBe(0);
  });

  it('never counts more than one skipped update per interval, and never lets a frame out while congested', () => {
    const { sent, p } = run(5, 10, 10_000, (t) => t < T0 + 5000);
    expect(sent[0]?.at).toBeGreaterThanOrEqual(T0 + 5000);
    expect(sent[0]?.skipped).toBeLessThanOrEqual(5 * 5);
    expect(sent[0]?.skipped).toBeGreaterThanOrEqual(5 * 5 - 2);
    // the first frame carries every bucket changed while congested
    expect(sent[0]?.starts).toEqual([T0, T0 + 1000, T0 + 2000, T0 + 3000, T0 + 4000, T0 + 5000]);
    expect(p.pending).toBe(false);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new Pacer(0, T0)).toThrow(RangeError);
    expect(() => new Pacer(-1, T0)).toThrow(RangeError);
    expect(() => new Pacer(Number.POSITIVE_INFINITY, T0)).toThrow(RangeError);
  });
});
