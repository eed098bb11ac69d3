import type { ChannelEvent } from '../broker.js';
import type { RedisConnection } from './connection.js';
import { encodeEvent } from './pubsub-message.js';
import { eventScript } from './scripts.js';

/**
 * Publish a channel event (join, leave, update, signal) on the channel's topic. In a Redis
 * Cluster a plain PUBLISH goes to any node, and two of them may reach a subscriber out of
 * order: there it is sent from the node that owns the channel's slot, as the channel's
 * publications are, so a channel's events and publications keep one order.
 */
export async function publishChannelEvent(conn: RedisConnection, channel: string, event: ChannelEvent): Promise<void> {
  const { cmd, keys } = conn;
  if (conn.clustered) await conn.track(eventScript.run(cmd, [keys.meta(channel)], [keys.topic(channel), encodeEvent(event)]));
  else await conn.track(cmd.publish(keys.topic(channel), encodeEvent(event)));
}
