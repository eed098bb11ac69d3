import type { ResolvedChannel } from './channels.js';

/** One subscription of one connection. */
export interface Subscription {
  ch: ResolvedChannel;
  /** Highest offset delivered (or recovered); lower offsets are never sent again. */
  offset: number;
  /** The stream epoch `offset` belongs to (set by the subscribe reply). */
  epoch: string;
  /** While recovering, live publications wait here, so the reply's publications come first. */
  pending: Array<{ epoch: string; offset: number; bytes: Buffer }> | null;
  /** Whether this connection entered presence in the channel. */
  present: boolean;
  presenceState: string | null;
  presenceSince: number;
}
