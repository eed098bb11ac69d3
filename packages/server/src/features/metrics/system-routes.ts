import { z } from 'zod';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import type { SystemGrants } from './system-grants.js';

/** `POST /metrics/system/grants`: an admin key mints a short-lived grant to subscribe to the system scope over a socket. */
export function systemRoutes(grants: () => SystemGrants): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/metrics/system/grants',
      operationId: 'createSystemMetricsGrant',
      tag: 'metrics',
      summary: "A short-lived grant to follow the server's own figures live (admin key)",
      description:
        'Answers `{grant, expiresAt}`: pass `grant` with `scope: "system"` to `metrics.subscribe` (the SDK\'s `client.metrics.subscribe({ scope: "system", grant, series: [...] })`) on any connection of any node, until `expiresAt` (`metrics.systemGrantTtl`, 5 minutes by default). A subscription opened with it lasts until it is closed or its connection ends. Only an admin key mints one: no key 401, a tenant key 403.',
      admin: true,
      body: z.strictObject({}).optional().describe('nothing: a grant lasts metrics.systemGrantTtl'),
      response: z.object({
        grant: z.string().describe('a bearer string: whoever holds it may open subscriptions to the system scope until expiresAt'),
        expiresAt: z.number().int().describe('ms since the epoch'),
      }),
      errors: [503],
      async handler({ actor }) {
        return grants().mint(`admin:${actor.keyId ?? 'unknown'}`);
      },
    }),
  ];
}
