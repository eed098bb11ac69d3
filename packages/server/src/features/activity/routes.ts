import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { timeParam } from '../../storage/paging.js';
import { idempotencyHeader, parseRequest as parse, requestTenant } from '../request.js';
import type { ActivityFeeds } from './feeds.js';
import { activityContent, actorId, listFilters, scope } from './schemas.js';

const MAX_PAGE = 1000;

const recordBody = z.strictObject({ ...activityContent, actor: actorId, time: timeParam.optional() });
const listQuery = z.strictObject({ scope: scope.optional(), ...listFilters(MAX_PAGE) });

/** HTTP routes of activity feeds for the app backend (under /api/v1, API key required). */
export function activityRoutes(feeds: ActivityFeeds) {
  return (app: FastifyInstance): void => {
    app.post('/activities', async (req, reply) => {
      const tenant = requestTenant(req);
      const key = idempotencyHeader(req);
      const body = parse(recordBody, req.body, 'body');
      const result = await feeds.record(tenant, body, key === undefined ? undefined : `api:${key}`);
      return reply.code(result.deduplicated ? 200 : 201).send(result);
    });

    app.get('/activities', async (req) => {
      const query = parse(listQuery, req.query, 'query');
      return feeds.list(requestTenant(req), query);
    });
  };
}
