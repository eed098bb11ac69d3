import { z } from 'zod';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import { idempotencyHeaders } from '../../http/api/schemas.js';
import type { Inbox } from './inbox.js';
import {
  createBody,
  createResult,
  listFilters,
  notificationId,
  notificationPage,
  preferences,
  preferencesPatch,
  unreadCount,
  updated,
  userId,
} from './schemas.js';

const MAX_PAGE = 1000;
const TAG = 'notifications';

const userBody = z.strictObject({ user: userId });
const userQuery = z.strictObject({ user: userId });
const idParams = z.strictObject({ id: notificationId });
const empty = z.object({});

/**
 * HTTP routes of the inbox for the app backend (under /api/v1, API key required). They
 * mirror the client commands, naming the user explicitly; the tenant comes from the key.
 */
export function notificationRoutes(inbox: () => Inbox, maxRecipients: number): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/notifications',
      operationId: 'createNotifications',
      tag: TAG,
      summary: 'Create a notification for one user, several, or every known user of the tenant',
      description: "Stored, then pushed to each recipient's `user:{sub}` channel. 201 when created; 200 with `deduplicated` when the Idempotency-Key was seen.",
      headers: idempotencyHeaders,
      body: createBody(maxRecipients),
      response: createResult,
      created: (result) => result.deduplicated !== true,
      errors: [413, 503],
      async handler({ tenant, body, headers }) {
        const key = headers['idempotency-key'];
        const { user, users, everyone, ...content } = body;
        const recipients = everyone ? 'everyone' : (users ?? [user as string]);
        return inbox().create(tenant, recipients, content, { idempotencyKey: key === undefined ? undefined : `api:${key}` });
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/notifications',
      operationId: 'listNotifications',
      tag: TAG,
      summary: "A user's notifications, newest first, one page",
      query: z.strictObject({ user: userId, ...listFilters(MAX_PAGE) }),
      response: notificationPage,
      errors: [503],
      async handler({ tenant, query: { user, ...filters } }) {
        return inbox().list(tenant, user, filters);
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/notifications/unread-count',
      operationId: 'notificationsUnreadCount',
      tag: TAG,
      summary: "A user's unread and unseen counts",
      query: userQuery,
      response: unreadCount,
      errors: [503],
      async handler({ tenant, query }) {
        return inbox().unreadCount(tenant, query.user);
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/notifications/read-all',
      operationId: 'markAllNotificationsRead',
      tag: TAG,
      summary: "Mark all of a user's notifications read",
      body: userBody,
      response: updated,
      errors: [503],
      async handler({ tenant, body }) {
        return inbox().markAllRead(tenant, body.user);
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/notifications/seen',
      operationId: 'markNotificationsSeen',
      tag: TAG,
      summary: "Mark all of a user's notifications seen (the inbox was opened)",
      body: userBody,
      response: updated,
      errors: [503],
      async handler({ tenant, body }) {
        return inbox().markAllSeen(tenant, body.user);
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/notifications/:id/read',
      operationId: 'markNotificationRead',
      tag: TAG,
      summary: 'Mark one notification read',
      params: idParams,
      body: userBody,
      response: empty,
      errors: [404, 503],
      async handler({ tenant, params, body }) {
        await inbox().markRead(tenant, body.user, params.id);
        return {};
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/notifications/:id/archive',
      operationId: 'archiveNotification',
      tag: TAG,
      summary: 'Archive one notification',
      params: idParams,
      body: userBody,
      response: empty,
      errors: [404, 503],
      async handler({ tenant, params, body }) {
        await inbox().archive(tenant, body.user, params.id);
        return {};
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/notifications/preferences',
      operationId: 'getNotificationPreferences',
      tag: TAG,
      summary: "A user's notification preferences",
      query: userQuery,
      response: preferences,
      errors: [503],
      async handler({ tenant, query }) {
        return inbox().preferences(tenant, query.user);
      },
    }),
    defineRoute({
      method: 'PUT',
      url: '/notifications/preferences',
      operationId: 'setNotificationPreferences',
      tag: TAG,
      summary: "Change a user's notification preferences (fields left out stay as they are)",
      body: z.strictObject({ user: userId, ...preferencesPatch }),
      response: preferences,
      errors: [503],
      async handler({ tenant, body: { user, ...patch } }) {
        return inbox().setPreferences(tenant, user, patch);
      },
    }),
  ];
}
