import type { Filter, HistoryParams, PresenceMember, PresenceStatsResult, Publication, PublicationPriority, PublishResult, Tags } from '@switchboard/protocol';
import type { EventSource } from './emitter.js';
import type { SubscriptionEvents, SubscriptionState } from './events.js';

/** The public surface of a channel subscription and its options (the state machine is in subscription.ts). */

/** Options of `subscription.history()`. */
export type HistoryOptions = Omit<HistoryParams, 'channel'>;

/** A page of a channel's history. */
export interface HistoryPage<T = unknown> {
  publications: Publication<T>[];
  epoch: string;
  offset: number;
}

/** Options of `client.subscribe(channel, options)`. */
export interface SubscribeOptions {
  /**
   * Deliver only publications whose tags match (docs/protocol.md, "Tags and filters"). The
   * offsets of a filtered subscription skip by design; recovery still delivers exactly the
   * missed publications that match.
   */
  filter?: Filter;
  /**
   * Ask for delta delivery (`'fossil'`): where the namespace allows it (`delta: true`), each
   * publication that follows the one received last travels as a fossil delta from it; the
   * SDK rebuilds the full value, so `publication` events are the same either way.
   */
  delta?: 'fossil';
  /**
   * Server features whose state of the channel the subscribe reply should carry
   * (`'locks'`), as `state` of the `subscribed` event. Asking again for a channel already
   * subscribed adds the names from its next subscribe on.
   */
  state?: readonly string[];
}

/** Options of `publish`. */
export interface PublishOptions {
  /** Tags that subscription filters match against; delivered with the publication. */
  tags?: Tags;
  /**
   * Delivery priority on congested connections (`critical` overtakes `low`, each channel keeping
   * its order); only what the namespace's `priorities.allowed` lists, else the publish fails with 103.
   */
  priority?: PublicationPriority;
}

/** A channel subscription, created by `client.subscribe(channel)`. */
export interface Subscription<T = unknown, P = unknown> extends EventSource<SubscriptionEvents<T, P>> {
  readonly channel: string;
  readonly state: SubscriptionState;
  /** What the last subscribe reply said of this subscription (the app's backend, through the subscribe hook), or undefined. */
  readonly info: unknown;
  /**
   * Publish to this channel; queued while offline, delivered once.
   *
   * @example
   * const { offset } = await sub.publish({ text: 'hello' }, { tags: { room: 'ops' } });
   */
  publish(data: T, options?: PublishOptions): Promise<PublishResult>;
  /**
   * Read the channel's history (waits until subscribed, at most `commandTimeout`).
   *
   * @example
   * const page = await sub.history({ limit: 50, reverse: true });
   */
  history(options?: HistoryOptions): Promise<HistoryPage<T>>;
  /**
   * Who is present, grouped by user with their devices.
   *
   * @example
   * const members = await sub.presence();
   * const names = members.map((m) => m.user);
   */
  presence(): Promise<PresenceMember<P>[]>;
  /**
   * Counts of present users and connections.
   *
   * @example
   * const { users, connections } = await sub.presenceStats();
   */
  presenceStats(): Promise<PresenceStatsResult>;
  /**
   * Enter presence with a small state object. The SDK remembers it and enters again
   * after every resubscribe. Resolves once the server has it.
   *
   * @example
   * await sub.enterPresence({ page: '/docs', color: '#f80' });
   */
  enterPresence(state: P): Promise<void>;
  /**
   * Replace this connection's presence state (same as `enterPresence`).
   *
   * @example
   * await sub.updatePresence({ page: '/settings', color: '#f80' });
   */
  updatePresence(state: P): Promise<void>;
  /**
   * Leave presence; it is not re-entered on resubscribe.
   *
   * @example
   * await sub.leavePresence();
   */
  leavePresence(): Promise<void>;
  /**
   * Send an ephemeral signal (typing, cursor). Throttled per key, latest value wins;
   * dropped, never queued, while not subscribed.
   *
   * @example
   * editor.on('cursor', (pos) => sub.signal('cursor', pos));
   */
  signal(key: string, data?: unknown): void;
  /**
   * Stop receiving this channel and forget the subscription.
   *
   * @example
   * sub.unsubscribe();
   */
  unsubscribe(): void;
}
