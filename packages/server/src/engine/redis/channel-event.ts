import type { ChannelEvent } from '../broker.js';
import type { RedisConnection } from './connection.js';
import { encodeEvent } from './pubsub-message.js';
import { eventScript } from './scripts.js';

/**
 * Publish a message on a topic so that one publisher's messages reach every subscriber in
 * the order they were sent. In a Redis Cluster a plain PUBLISH goes to whichever node the
 * client picks, and two messages sent through two nodes may reach a subscriber out of
 * order: there the message is sent from the node that owns `routeKey`'s slot, so every
 * message routed by one key leaves from one node, in order. `routeKey` is never read or
 * written; it only picks the node.
 */
export async function publishInOrder(conn: RedisConnection, routeKey: string, topic: string, message: string): Promise<void> {
  if (conn.clustered) await conn.track(eventScript.run(conn.cmd, [routeKey], [topic, message]));
  else await conn.track(conn.cmd.publish(topic, message));
}

/**
 * Publish a channel event (join, leave, update, signal) on the channel's topic, routed by
 * the channel's stream key as its publications are, so a channel's events and publications
 * keep one order.
 */
export async function publishChannelEvent(conn: RedisConnection, channel: string, event: ChannelEvent): Promise<void> {
  const { keys } = conn;
  await publishInOrder(conn, keys.stream(channel), keys.topic(channel), encodeEvent(event));
}
