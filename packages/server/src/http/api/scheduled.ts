import { z } from 'zod';
import type { ScheduledPublications } from '../../core/scheduled-publications.js';
import { cursorParam } from '../../storage/paging.js';
import { type ApiRoute, defineRoute } from './route.js';
import { scheduledPublication } from './schemas.js';

/** Largest page of GET /scheduled. */
const PAGE = 100;

const idParams = z.strictObject({ id: z.string().min(1).max(128).describe('the id the publish answer (202) gave') });

/** Scheduled publications of the tenant: list, read, cancel (they are created by POST /publish with publishAt or delaySeconds). */
export function scheduledRoutes(scheduled: () => ScheduledPublications): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/scheduled',
      operationId: 'listScheduled',
      tag: 'publish',
      summary: "List the tenant's scheduled publications",
      description: 'Soonest first. Finished ones (delivered, failed, cancelled) stay listed for `jobs.keepFinished` (7 days).',
      query: z.strictObject({
        status: z.enum(['pending', 'running', 'delivered', 'failed', 'cancelled']).optional().describe('only this status'),
        limit: z
          .string()
          .regex(/^\d{1,4}$/)
          .transform(Number)
          .pipe(z.number().int().min(1).max(PAGE))
          .optional()
          .describe(`per page, 1–${PAGE} (default 50)`),
        cursor: cursorParam.optional().describe('nextCursor of the previous page'),
      }),
      response: z.object({ scheduled: z.array(scheduledPublication), nextCursor: z.string().nullable() }),
      errors: [503],
      async handler({ tenant, query }) {
        return scheduled().list(tenant, {
          limit: query.limit ?? 50,
          ...(query.status ? { status: query.status } : {}),
          ...(query.cursor ? { cursor: query.cursor } : {}),
        });
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/scheduled/:id',
      operationId: 'getScheduled',
      tag: 'publish',
      summary: 'Read a scheduled publication',
      description: "Its status, attempts, and once delivered its offset and epoch. Another tenant's id is 404.",
      params: idParams,
      response: scheduledPublication,
      errors: [404, 503],
      async handler({ tenant, params }) {
        return scheduled().get(tenant, params.id);
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/scheduled/:id',
      operationId: 'cancelScheduled',
      tag: 'publish',
      summary: 'Cancel a scheduled publication',
      description: 'Only a pending one: one delivered, being delivered, failed or already cancelled is 409 (code 124). Answers it, cancelled.',
      params: idParams,
      response: scheduledPublication,
      errors: [404, 409, 503],
      async handler({ tenant, params }) {
        return scheduled().cancel(tenant, params.id);
      },
    }),
  ];
}
