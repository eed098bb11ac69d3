import { PUBLICATION_PRIORITIES, type PublicationPriority } from '@switchboard/protocol';
import { CONFLATE_LOW, conflateAt, continues, type HeldWindow, heldFrame, mergeWindows } from './held-window.js';

/** A publication's delivery priority. */
export type Priority = PublicationPriority;

/** Rank of a priority: 0 critical … 3 low. */
export const rankOf = (p: Priority | undefined): number => (p === undefined ? 2 : PUBLICATION_PRIORITIES.indexOf(p));

/** Lane of frames that belong to no channel and keep their order with each other: command replies, pings. */
export const CONTROL_LANE = '';

interface Held {
  readonly bytes: Buffer;
  readonly rank: number;
  readonly lane: Lane;
  /** A conflated channel's window, which the channel's next window may join while it is the lane's last frame. */
  readonly window: HeldWindow | null;
  /** Written (or dropped) already: its place in a rank's order is skipped. */
  gone: boolean;
}

interface Lane {
  readonly name: string;
  readonly frames: Held[];
  /** Index in `frames` of the next frame out. */
  head: number;
  /** Pending frames per rank (0 control, 1 critical … 4 low). */
  readonly counts: number[];
}

/**
 * A congested connection's held frames, in lanes: one per channel (a channel's frames never
 * overtake each other) and one for control frames (replies, pings), which go out first.
 * Frames go out by priority, and within a priority in the order they were queued; a frame
 * takes the earlier frames of its channel out with it. So a channel holding a queued low
 * frame that then gets a critical one is promoted up to that critical frame (the low frame
 * goes just before it, the channel's order kept), and the critical frame waits only for
 * earlier critical frames and its own channel's earlier frames: every critical frame leaves
 * before any lower frame of another channel queued after it.
 *
 * A conflated channel's window that follows the window its lane holds last joins it as one
 * frame: low publications superseded by a later one of their key are conflated away at once;
 * `conflate` extends that to normal, then high ones (never critical) when room is needed.
 */
export class PriorityQueue {
  readonly #lanes = new Map<string, Lane>();
  /** Frames of each rank in the order queued (with written ones skipped lazily), and each order's head. */
  readonly #order: Held[][] = [[], [], [], [], []];
  readonly #orderHead = [0, 0, 0, 0, 0];
  #bytes = 0;
  #criticalBytes = 0;
  #criticalHeld = 0;
  #frames = 0;
  /** Publications of this rank and lower are conflated across held windows (3 low … 1 high). */
  #level = CONFLATE_LOW;

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes of critical frames and control frames held (never shed). */
  get criticalBytes(): number {
    return this.#criticalBytes;
  }

  get size(): number {
    return this.#frames;
  }

  /** Whether a critical publication frame is held. */
  get holdsCritical(): boolean {
    return this.#criticalHeld > 0;
  }

  /**
   * Hold a frame of `lane` (CONTROL_LANE: a reply or ping) at `priority` (default normal); a
   * conflated channel's frame with its `window`, which joins the lane's last held window when
   * it continues it. Returns the publications conflated away by joining.
   */
  push(lane: string, bytes: Buffer, priority?: Priority, window?: HeldWindow): number {
    const last = window ? this.#lanes.get(lane)?.frames.at(-1) : undefined;
    if (window && last?.window && !last.gone && continues(last.window.window, window.window)) {
      const before = last.window.window.skipped + window.window.skipped;
      const merged: HeldWindow = { channel: window.channel, window: mergeWindows(last.window.window, window.window, this.#level) };
      this.#replaceLast(last, merged);
      return merged.window.skipped - before;
    }
    this.#add(lane, bytes, priority, window ?? null);
    return 0;
  }

  /**
   * Conflate held windows at `level` (2: normal and low, 1: high too; critical never), now and
   * for the windows that join them later. Returns the publications conflated away.
   */
  conflate(level: number): number {
    if (level >= this.#level) return 0;
    this.#level = level;
    let dropped = 0;
    for (const lane of [...this.#lanes.values()]) {
      const last = lane.frames.at(-1);
      if (!last?.window || last.gone) continue;
      const w = conflateAt(last.window.window, level);
      if (w === last.window.window) continue;
      dropped += w.skipped - last.window.window.skipped;
      this.#replaceLast(last, { channel: last.window.channel, window: w });
    }
    return dropped;
  }

  /** Replace a lane's last frame with a window's frame, queued anew at its priority. */
  #replaceLast(last: Held, window: HeldWindow): void {
    const lane = last.lane;
    lane.frames.pop();
    last.gone = true;
    this.#forget(last);
    const frame = heldFrame(window);
    this.#add(lane.name, frame.bytes, frame.priority, window);
  }

  #add(lane: string, bytes: Buffer, priority: Priority | undefined, window: HeldWindow | null): void {
    const rank = lane === CONTROL_LANE ? 0 : rankOf(priority) + 1;
    let l = this.#lanes.get(lane);
    if (!l) {
      l = { name: lane, frames: [], head: 0, counts: [0, 0, 0, 0, 0] };
      this.#lanes.set(lane, l);
    }
    const held: Held = { bytes, rank, lane: l, window, gone: false };
    l.frames.push(held);
    (l.counts as number[])[rank] = (l.counts[rank] as number) + 1;
    (this.#order[rank] as Held[]).push(held);
    this.#bytes += bytes.length;
    if (rank <= 1) this.#criticalBytes += bytes.length;
    if (rank === 1) this.#criticalHeld++;
    this.#frames++;
  }

  /**
   * Take frames in priority order until `budget` bytes are taken (at least one frame when any
   * is held): the oldest frame of the highest priority held, preceded by its channel's earlier
   * frames, then the next.
   */
  take(budget: number): Buffer[] {
    const out: Buffer[] = [];
    let taken = 0;
    for (let r = 0; r < this.#order.length; r++) {
      const order = this.#order[r] as Held[];
      while ((this.#orderHead[r] as number) < order.length) {
        const target = order[this.#orderHead[r] as number] as Held;
        if (target.gone) {
          this.#advance(r);
          continue;
        }
        if (out.length > 0 && taken >= budget) return out;
        const lane = target.lane;
        // The target and its channel's frames before it, one at a time (the budget may stop between).
        const frame = lane.frames[lane.head] as Held;
        this.#shift(lane);
        out.push(frame.bytes);
        taken += frame.bytes.length;
      }
    }
    return out;
  }

  #advance(r: number): void {
    const order = this.#order[r] as Held[];
    const head = (this.#orderHead[r] as number) + 1;
    if (head === order.length) {
      order.length = 0;
      this.#orderHead[r] = 0;
    } else if (head > 1024 && head * 2 > order.length) {
      order.splice(0, head);
      this.#orderHead[r] = 0;
    } else this.#orderHead[r] = head;
  }

  #shift(lane: Lane): void {
    const frame = lane.frames[lane.head] as Held;
    frame.gone = true;
    lane.head++;
    this.#forget(frame);
    if (lane.head === lane.frames.length) {
      this.#lanes.delete(lane.name);
      return;
    }
    if (lane.head > 1024 && lane.head * 2 > lane.frames.length) {
      lane.frames.splice(0, lane.head);
      lane.head = 0;
    }
  }

  #forget(frame: Held): void {
    (frame.lane.counts as number[])[frame.rank] = (frame.lane.counts[frame.rank] as number) - 1;
    this.#bytes -= frame.bytes.length;
    if (frame.rank <= 1) this.#criticalBytes -= frame.bytes.length;
    if (frame.rank === 1) this.#criticalHeld--;
    this.#frames--;
  }

  /**
   * Drop the channel lanes that hold no critical frame, those whose highest frame is lowest
   * first (low, normal, then high; the latest listed first), until at most `limit` bytes are
   * held; the names of the lanes dropped. Control and critical frames stay.
   */
  shed(limit: number): string[] {
    const dropped: string[] = [];
    if (this.#bytes <= limit) return dropped;
    const candidates: Array<{ lane: Lane; top: number }> = [];
    for (const lane of this.#lanes.values()) {
      if (lane.counts[0] !== 0 || lane.counts[1] !== 0) continue;
      candidates.push({ lane, top: lane.counts[2] !== 0 ? 2 : lane.counts[3] !== 0 ? 3 : 4 });
    }
    candidates.reverse().sort((a, b) => b.top - a.top);
    for (const { lane } of candidates) {
      if (this.#bytes <= limit) break;
      this.#dropLane(lane);
      dropped.push(lane.name);
    }
    return dropped;
  }

  /** Drop every frame of one lane (a channel the connection leaves, or must resubscribe to). */
  drop(name: string): void {
    const lane = this.#lanes.get(name);
    if (lane) this.#dropLane(lane);
  }

  #dropLane(lane: Lane): void {
    for (let i = lane.head; i < lane.frames.length; i++) {
      const f = lane.frames[i] as Held;
      f.gone = true;
      this.#forget(f);
    }
    this.#lanes.delete(lane.name);
  }

  clear(): void {
    this.#lanes.clear();
    for (const o of this.#order) o.length = 0;
    this.#orderHead.fill(0);
    this.#bytes = 0;
    this.#criticalBytes = 0;
    this.#criticalHeld = 0;
    this.#frames = 0;
    this.#level = CONFLATE_LOW;
  }
}
