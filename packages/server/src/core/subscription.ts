import type { Tags } from '@switchboard/protocol';
import type { ResolvedChannel } from './channels.js';
import type { ConflatedFrame } from './conflation.js';
import type { Delivery } from './delivery.js';
import type { TagPredicate } from './tag-filter.js';

export type { Delivery } from './delivery.js';

/**
 * Where a publication stands against what a subscription delivered: `next` is sent,
 * `skip` is the next offset but its tags do not match the filter (the position still
 * advances past it), `repeat` was already passed, `gap` means publications were missed.
 */
export type StreamStep = 'next' | 'skip' | 'repeat' | 'gap';

/** What the hub hands a subscription: one publication, or a conflated channel's closed window. */
export type Delivered = Delivery | ConflatedFrame;

/** The newest offset a delivery covers. */
const lastOffset = (d: Delivered): number => ('pub' in d ? d.pub.offset : d.offset);

/**
 * One subscription of one connection: its place in the channel's stream, the live
 * publications it holds while recovering, and its presence. Changed only through methods.
 */
export class Subscription {
  /** Highest offset delivered (or recovered); lower offsets are never sent again. */
  #offset = 0;
  /** The stream epoch `offset` belongs to (set by the subscribe reply). */
  #epoch = '';
  /** While recovering, live publications wait here, so the reply's publications come first. */
  #held: Delivered[] | null = [];
  #present = false;
  #presenceState: string | null = null;
  #presenceSince = 0;
  /** The offset of the last publication this subscription sent live (-1: none yet): a delta needs it to be offset - 1. */
  #lastSent = -1;

  constructor(
    readonly ch: ResolvedChannel,
    /** Only publications whose tags match are sent; null: all. */
    readonly filter: TagPredicate | null = null,
    /** Delta delivery (fossil): consecutive publications as deltas, others as JSON text strings. */
    readonly delta = false,
  ) {
    this.stream = delta ? `${ch.key}\u0000delta` : ch.key;
  }

  /** The sequence its publication frames belong to for compression: the channel's, one per kind of frame. */
  readonly stream: string;

  get offset(): number {
    return this.#offset;
  }

  get epoch(): string {
    return this.#epoch;
  }

  /** Whether this connection entered presence in the channel. */
  get present(): boolean {
    return this.#present;
  }

  get presenceState(): string | null {
    return this.#presenceState;
  }

  /** Unix ms of the presence entry's first write. */
  get presenceSince(): number {
    return this.#presenceSince;
  }

  /** The position the subscribe reply reports: delivery continues from here. */
  startAt(position: { offset: number; epoch: string }): void {
    this.#offset = position.offset;
    this.#epoch = position.epoch;
  }

  /** Keep a live publication while the subscribe reply is pending; false once it went out. */
  hold(delivery: Delivered): boolean {
    if (!this.#held) return false;
    this.#held.push(delivery);
    return true;
  }

  get recovering(): boolean {
    return this.#held !== null;
  }

  /** Stop holding: the publications held meanwhile, in offset order. */
  release(): Delivered[] {
    const held = this.#held ?? [];
    this.#held = null;
    return held.sort((a, b) => lastOffset(a) - lastOffset(b));
  }

  /**
   * Take what the hub delivered: the frame to send (null: nothing, the stream is still in
   * step), or 'gap' when publications were missed and the subscription must resubscribe.
   */
  take(d: Delivered): Buffer | null | 'gap' {
    if (!('pub' in d)) return this.#takeWindow(d);
    const step = this.advance(d.epoch, d.pub.offset, d.pub.tags);
    if (step === 'gap') return 'gap';
    return step === 'next' ? this.frameFor(d) : null;
  }

  /**
   * A conflated window covers offsets `after + 1 … offset`: a subscription at any position in
   * `[after, offset)` continues with it (the client skips what it already holds), one at or past
   * `offset` already has it, one before `after` missed publications.
   */
  #takeWindow(frame: ConflatedFrame): Buffer | null | 'gap' {
    const { epoch, after, offset } = frame.window;
    if (epoch !== this.#epoch || this.#offset < after) return 'gap';
    if (this.#offset >= offset) return null;
    this.#offset = offset;
    return this.filter === null ? frame.bytes : frame.filtered((p) => this.matches(p.tags));
  }

  /**
   * Take a publication of the stream: the next offset advances (and is sent if it passes
   * the filter), a repeat is ignored, anything else is a gap.
   */
  advance(epoch: string, offset: number, tags: Tags | undefined): StreamStep {
    if (epoch === this.#epoch) {
      if (offset <= this.#offset) return 'repeat';
      if (offset === this.#offset + 1) {
        this.#offset = offset;
        return this.matches(tags) ? 'next' : 'skip';
      }
    }
    return 'gap';
  }

  /**
   * The frame to send for a publication `advance` said is `next`: the shared `pub` push, or
   * for a delta subscription the delta from the publication it sent last when that is the
   * previous offset (the full value after a gap, a recovery, a filter skip or at the start).
   */
  frameFor(d: Delivery): Buffer {
    if (!this.delta) return d.bytes;
    const follows = this.#lastSent === d.pub.offset - 1;
    this.#lastSent = d.pub.offset;
    return (follows && d.deltaFrame) || d.textFrame;
  }

  /** Whether a publication passes this subscription's filter (live, held or recovered from history). */
  matches(tags: Tags | undefined): boolean {
    return this.filter === null || this.filter(tags);
  }

  /** Entered or updated presence; `since` stays the first write's. */
  enterPresence(state: string | null, since: number): void {
    this.#present = true;
    this.#presenceState = state;
    this.#presenceSince = since;
  }

  leavePresence(): void {
    this.#present = false;
  }
}
