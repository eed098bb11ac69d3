import type { ResolvedChannel } from './channels.js';

/** A live publication that arrived while its subscription was recovering. */
export interface HeldPublication {
  epoch: string;
  offset: number;
  bytes: Buffer;
}

/** Where a publication stands against what a subscription delivered. */
export type StreamStep = 'next' | 'repeat' | 'gap';

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
  #held: HeldPublication[] | null = [];
  #present = false;
  #presenceState: string | null = null;
  #presenceSince = 0;

  constructor(readonly ch: ResolvedChannel) {}

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
  hold(epoch: string, offset: number, bytes: Buffer): boolean {
    if (!this.#held) return false;
    this.#held.push({ epoch, offset, bytes });
    return true;
  }

  get recovering(): boolean {
    return this.#held !== null;
  }

  /** Stop holding: the publications held meanwhile, in offset order. */
  release(): HeldPublication[] {
    const held = this.#held ?? [];
    this.#held = null;
    return held.sort((a, b) => a.offset - b.offset);
  }

  /** Take a publication of the stream: the next offset advances, a repeat is ignored, anything else is a gap. */
  advance(epoch: string, offset: number): StreamStep {
    if (epoch === this.#epoch) {
      if (offset <= this.#offset) return 'repeat';
      if (offset === this.#offset + 1) {
        this.#offset = offset;
        return 'next';
      }
    }
    return 'gap';
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
