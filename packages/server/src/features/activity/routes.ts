import { z } from 'zod';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import { idempotencyHeaders } from '../../http/api/schemas.js';
import { timeParam } from '../../storage/paging.js';
import type { ActivityFeeds } from './feeds.js';
import { activityContent, activityInsights, activityPage, actorId, insightsParams, listFilters, recordResult, scope } from './schemas.js';

const MAX_PAGE = 1000;

/** HTTP routes of activity feeds for the app backend (under /api/v1, API key required). */
export function activityRoutes(feeds: () => ActivityFeeds): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/activities',
      operationId: 'recordActivity',
      tag: 'activity',
      summary: 'Record an activity in a scope',
      description: 'Stored, then published to `activity:{scope}`. 201 when recorded; 200 with `deduplicated` when the Idempotency-Key was seen.',
      headers: idempotencyHeaders,
      body: z.strictObject({ ...activityContent, actor: actorId, time: timeParam.optional() }),
      response: recordResult,
      created: (result) => result.deduplicated !== true,
      errors: [413, 422, 503],
      async handler({ tenant, body, headers }) {
        const key = headers['idempotency-key'];
        return feeds().record(tenant, body, key === undefined ? undefined : `api:${key}`);
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/activities',
      operationId: 'listActivities',
      tag: 'activity',
      summary: 'Activities of a scope (or of the whole tenant), newest first, one page',
      description:
        '`q` finds activities by words of their verb, actor, object, target, grouped objects and the strings in `data`: every word, the last also as a prefix.',
      query: z.strictObject({ scope: scope.optional(), ...listFilters(MAX_PAGE) }),
      response: activityPage,
      errors: [422, 503],
      async handler({ tenant, query }) {
        return feeds().list(tenant, query);
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/activity/insights',
      operationId: 'activityInsights',
      tag: 'activity',
      summary: 'Counts of activities in a time range: by verb, by actor and per UTC hour or day',
      description: 'Of a scope or of the whole tenant, optionally of those matching `q`. 400 for a reversed range or one wider than the bucket size allows.',
      query: z.strictObject(insightsParams),
      response: activityInsights,
      errors: [422, 503],
      async handler({ tenant, query }) {
        return feeds().insights(tenant, query);
      },
    }),
  ];
}
