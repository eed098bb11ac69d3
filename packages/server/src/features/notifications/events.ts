import { z } from 'zod';
import { defineEventType } from '../events.js';
import type { Notification } from './model.js';

/** The event types the notifications feature emits (webhooks deliver them). */

export const notificationCreated = defineEventType({
  type: 'notification.created',
  description:
    'A notification was stored for a user (one event per recipient; a notification merged into an open group is not a new one). Emitted in the transaction that stores it.',
  data: z.strictObject({
    id: z.string(),
    user: z.string(),
    type: z.string(),
    title: z.string(),
    body: z.string().nullable(),
    link: z.string().nullable(),
    priority: z.string(),
    category: z.string().nullable(),
    groupKey: z.string().nullable(),
    resource: z.string().nullable(),
    data: z.unknown(),
    createdAt: z.number(),
  }),
  example: {
    id: 'n_0lq3k9x2m4f1a2b3c4d5e6f7',
    user: 'ann',
    type: 'mention',
    title: 'Bob mentioned you',
    body: 'in Launch plan',
    link: '/projects/42',
    priority: 'normal',
    category: 'mentions',
    groupKey: null,
    resource: 'project:42',
    data: { comment: 'c_17' },
    createdAt: 1767225600000,
  },
});

export const NOTIFICATION_EVENTS = [notificationCreated];

/** The payload of `notification.created` for a stored notification. */
export function createdEvent(n: Notification): z.input<typeof notificationCreated.data> {
  return {
    id: n.id,
    user: n.user,
    type: n.type,
    title: n.title,
    body: n.body,
    link: n.link,
    priority: n.priority,
    category: n.category,
    groupKey: n.groupKey,
    resource: n.resource,
    data: n.data,
    createdAt: n.createdAt,
  };
}
