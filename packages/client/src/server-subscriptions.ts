import type { StreamPosition, SubscribePush } from '@switchboard/protocol';
import { SwitchboardError } from './errors.js';
import type { ChannelSubscription } from './subscription.js';

/** Positions of the server-side subscriptions, for `connect`'s `subs` (none: undefined). */
export function resumePositions(subs: Iterable<ChannelSubscription>): Record<string, StreamPosition> | undefined {
  let out: Record<string, StreamPosition> | undefined;
  for (const sub of subs) {
    if (!sub.serverSide) continue;
    const from = sub.resumeFrom;
    if (from === undefined) continue;
    out ??= {};
    out[sub.channel] = from;
  }
  return out;
}

/**
 * Apply a `subscribe` push: the server subscribed this connection. A channel the client
 * does not hold yet gets a new server-side subscription, announced by `announce` before
 * anything of it is delivered, so listeners attached there see every publication.
 */
export function applySubscribePush(
  push: SubscribePush,
  subs: Map<string, ChannelSubscription>,
  create: (channel: string) => ChannelSubscription,
  announce: (sub: ChannelSubscription) => void,
  refused: (channel: string, error: SwitchboardError) => void,
): void {
  let sub = subs.get(push.channel);
  if ('error' in push) {
    const error = SwitchboardError.fromReply(push.error);
    if (sub?.serverSide) sub.handleServerRefusal(error);
    else refused(push.channel, error);
    return;
  }
  if (sub === undefined) {
    sub = create(push.channel);
    sub.serverSide = true;
    subs.set(push.channel, sub);
    announce(sub);
  }
  sub.handleServerSubscribe(push);
}
