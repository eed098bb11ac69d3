import { z } from 'zod';
import { defineEventType } from '../events.js';

/**
 * Channel occupancy and per-user presence, decided once per transition in the cluster (see
 * lifecycle.ts): `vacated` and `left` only after the grace (`webhooks.lifecycleGrace`) passed
 * with nobody back.
 */

const device = z.strictObject({ connectionId: z.string(), state: z.unknown() });
const devices = z.array(device).describe("the user's connections present in the channel, oldest first, each with its presence state (null: none)");

export const channelOccupied = defineEventType({
  type: 'channel.occupied',
  description: 'A channel nobody was subscribed to got its first subscriber, on any node.',
  data: z.strictObject({ channel: z.string() }),
  example: { channel: 'project:42' },
});

export const channelVacated = defineEventType({
  type: 'channel.vacated',
  description:
    'The last subscriber of a channel left (on any node, or with its node) and nobody subscribed again within the grace (`webhooks.lifecycleGrace`, default 3 s).',
  data: z.strictObject({ channel: z.string() }),
  example: { channel: 'project:42' },
});

export const presenceJoined = defineEventType({
  type: 'presence.joined',
  description: "A user entered a channel's presence on their first device.",
  data: z.strictObject({ channel: z.string(), user: z.string(), devices }),
  example: { channel: 'project:42', user: 'ann', devices: [{ connectionId: 'c_8f2d1a', state: { page: '/board' } }] },
});

export const presenceUpdated = defineEventType({
  type: 'presence.updated',
  description:
    "A present user's presence changed: a device joined or left while another stays, or a device set another state. `devices` is the whole list after the change.",
  data: z.strictObject({ channel: z.string(), user: z.string(), devices }),
  example: {
    channel: 'project:42',
    user: 'ann',
    devices: [
      { connectionId: 'c_8f2d1a', state: { page: '/board' } },
      { connectionId: 'c_51b07e', state: { page: '/settings' } },
    ],
  },
});

export const presenceLeft = defineEventType({
  type: 'presence.left',
  description: "A user's last device left a channel's presence (on any node, or with its node) and none came back within the grace.",
  data: z.strictObject({ channel: z.string(), user: z.string() }),
  example: { channel: 'project:42', user: 'ann' },
});

export const LIFECYCLE_EVENTS = [channelOccupied, channelVacated, presenceJoined, presenceUpdated, presenceLeft];

/** Types that need the channel's subscriptions recorded. */
export const CHANNEL_TYPES = [channelOccupied.type, channelVacated.type];
/** Types that need presence entries recorded. */
export const PRESENCE_TYPES = [presenceJoined.type, presenceUpdated.type, presenceLeft.type];
