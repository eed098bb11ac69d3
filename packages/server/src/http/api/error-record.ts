import { errorCodeName } from '@switchboard/protocol';
import { z } from 'zod';
import { ERROR_WINDOW_MINUTES } from '../../observability/error-log.js';
import { type ApiRoute, defineRoute, readableTenant } from './route.js';
import { tenantId } from './schemas.js';

/** Examples per code in an answer. */
const EXAMPLES = 5;

const example = z.object({
  time: z.number().int().describe('Unix ms'),
  node: z.string().describe('node that answered the error'),
  tenant: z.string().nullable().describe('null: before a tenant was known (no key, a wrong key or token), or beyond the pairs a node keeps apart'),
  source: z.enum(['socket', 'http']),
  where: z.string().describe('the command (`publish`), or the HTTP method and route pattern (`POST /api/v1/publish`)'),
  message: z.string().describe('the error message, redacted: no token, API key, secret, quoted input or payload; long ids cut'),
  client: z.string().nullable().describe("the connection's id cut to 6 characters (socket errors)"),
});

/** The typed errors the cluster answered, by code, with counts and redacted examples. */
export function errorRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/errors',
      operationId: 'errors',
      tag: 'keys',
      summary: 'Recent typed errors by code, with counts and redacted examples, over every node',
      description:
        'Every reply error a node answered on a WebSocket and every HTTP error response of the API, counted by tenant and code. ' +
        'An admin key sees every tenant and the errors of no tenant (`tenant` narrows to one); a tenant key sees its own tenant ' +
        'only, and naming another is refused (403, code 103). `count` is since each node started, `recent` over the last ' +
        '`minutes` minutes; examples are the latest, redacted.',
      anyTenant: true,
      query: z.strictObject({
        tenant: tenantId.describe('only this tenant (an admin key; a tenant key may only name its own)').optional(),
        minutes: z.coerce
          .number()
          .int()
          .min(1)
          .max(ERROR_WINDOW_MINUTES)
          .describe(`minutes that \`recent\` counts (default 5, at most ${ERROR_WINDOW_MINUTES})`)
          .optional(),
      }),
      response: z.object({
        errors: z.array(
          z.object({
            code: z.number().int(),
            name: z.string().describe("the code's name in the protocol's table; `Application` for codes 400–1999"),
            count: z.number().int().min(0).describe('errors since the nodes started, summed over them'),
            recent: z.number().int().min(0).describe('errors over the last `minutes` minutes'),
            lastAt: z.number().int().describe('Unix ms of the latest'),
            examples: z.array(example).describe(`the latest ${EXAMPLES}, newest first`),
          }),
        ),
        minutes: z.number().int(),
        since: z.number().int().describe('when the oldest answering node started counting, Unix ms'),
        nodes: z.number().int().min(1).describe('nodes that answered'),
        complete: z.boolean().describe('false when a live node did not answer in time: its errors are missing'),
      }),
      errors: [503],
      async handler({ node, tenant, key, query }) {
        const minutes = query.minutes ?? 5;
        const list = await node.tenantViews.errors({ tenant: readableTenant(key, tenant, query.tenant), minutes, examples: EXAMPLES });
        return {
          errors: list.errors.map((e) => ({ ...e, name: errorCodeName(e.code) ?? 'Application' })),
          minutes,
          since: list.since,
          nodes: list.nodes,
          complete: list.complete,
        };
      },
    }),
  ];
}
