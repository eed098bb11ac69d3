import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Node } from '../../core/node.js';
import { idempotencyHeader, parseRequest as parse, requestTenant } from '../request.js';
import type { Inbox } from './inbox.js';
import { createBody, listFilters, notificationId, preferencesPatch, userId } from './schemas.js';

const MAX_PAGE = 1000;

const userBody = z.strictObject({ user: userId });
const idParams = z.strictObject({ id: notificationId });

/**
 * HTTP routes of the inbox for the app backend (under /api/v1, API key required). They
 * mirror the client commands, naming the user explicitly; the tenant comes from the key.
 */
export function notificationRoutes(inbox: Inbox) {
  return (app: FastifyInstance, node: Node): void => {
    const create = createBody(node.config.notifications.maxRecipients);
    const listQuery = z.strictObject({ user: userId, ...listFilters(MAX_PAGE) });
    const userQuery = z.strictObject({ user: userId });

    app.post('/notifications', async (req, reply) => {
      const tenant = requestTenant(req);
      const key = idempotencyHeader(req);
      const { user, users, everyone, ...content } = parse(create, req.body, 'body');
      const recipients = everyone ? 'everyone' : (users ?? [user as string]);
      const result = await inbox.create(tenant, recipients, content, { idempotencyKey: key === undefined ? undefined : `api:${key}` });
      return reply.code(result.deduplicated ? 200 : 201).send(result);
    });

    app.get('/notifications', async (req) => {
      const { user, ...filters } = parse(listQuery, req.query, 'query');
      return inbox.list(requestTenant(req), user, filters);
    });

    app.get('/notifications/unread-count', async (req) => {
      const { user } = parse(userQuery, req.query, 'query');
      return inbox.unreadCount(requestTenant(req), user);
    });

    app.post('/notifications/read-all', async (req) => {
      const { user } = parse(userBody, req.body, 'body');
      return inbox.markAllRead(requestTenant(req), user);
    });

    app.post('/notifications/seen', async (req) => {
      const { user } = parse(userBody, req.body, 'body');
      return inbox.markAllSeen(requestTenant(req), user);
    });

    app.post('/notifications/:id/read', async (req) => {
      const { id } = parse(idParams, req.params, 'params');
      const { user } = parse(userBody, req.body, 'body');
      await inbox.markRead(requestTenant(req), user, id);
      return {};
    });

    app.post('/notifications/:id/archive', async (req) => {
      const { id } = parse(idParams, req.params, 'params');
      const { user } = parse(userBody, req.body, 'body');
      await inbox.archive(requestTenant(req), user, id);
      return {};
    });

    app.get('/notifications/preferences', async (req) => {
      const { user } = parse(userQuery, req.query, 'query');
      return inbox.preferences(requestTenant(req), user);
    });

    app.put('/notifications/preferences', async (req) => {
      const { user, ...patch } = parse(z.strictObject({ user: userId, ...preferencesPatch }), req.body, 'body');
      return inbox.setPreferences(requestTenant(req), user, patch);
    });
  };
}
