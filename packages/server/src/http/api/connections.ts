import { z } from 'zod';
import { type ApiRoute, defineRoute, readableTenant } from './route.js';
import { tenantId } from './schemas.js';

const listedConnection = z.object({
  client: z.string().describe('connection id (the `client` of presence and of `POST /users/{user}/disconnect`)'),
  tenant: z.string(),
  user: z.string(),
  ip: z.string().describe("the peer's address"),
  origin: z.string().nullable().describe("the browser's Origin at the upgrade, null when none was sent"),
  node: z.string().describe('node the connection is on'),
  connectedAt: z.number().int().describe('Unix ms'),
  status: z.enum(['online', 'away', 'idle']),
  subscriptions: z.number().int().min(0),
});

/** Most connections one `GET /connections` lists (all matches are counted). */
const MAX_LISTED = 500;

/** The API key's view of itself and the live connections of its tenant (an admin key: of every tenant). */
export function connectionRoutes(maxListed = MAX_LISTED): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/key',
      operationId: 'apiKeyScope',
      tag: 'keys',
      summary: 'What the presented API key may do: admin or tenant, read-only or not',
      description: 'An admin key needs no tenant header here. The key itself is never echoed.',
      anyTenant: true,
      response: z.object({
        id: z.string().describe("the key's id (as `switchboard apikey list` shows it)"),
        admin: z.boolean().describe('an admin key: acts in any tenant it names'),
        tenant: z.string().nullable().describe("a tenant key's tenant; null for an admin key"),
        readOnly: z.boolean().describe('the key may only read (GET routes); anything else is refused with 403, code 158'),
      }),
      async handler({ tenant, key, actor }) {
        return { id: actor.keyId ?? '', admin: key.admin, tenant: key.admin ? null : tenant, readOnly: key.readOnly };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/connections',
      operationId: 'connections',
      tag: 'users',
      summary: 'Live connections over every node, searchable by tenant, user and IP',
      description:
        'An admin key sees every tenant (no tenant header needed; `tenant` narrows to one); a tenant key sees its own ' +
        'tenant only, and naming another in `tenant` is refused (403, code 103). `user` and `ip` match by substring, ' +
        'case-insensitive. Oldest first, at most `limit` listed; `total` and `subscriptions` count every match. ' +
        '`limit=0` answers only the counts.',
      anyTenant: true,
      query: z.strictObject({
        tenant: tenantId.describe('only this tenant (an admin key; a tenant key may only name its own)').optional(),
        user: z.string().max(256).describe('user ids containing this').optional(),
        ip: z.string().max(64).describe('peer addresses containing this').optional(),
        limit: z.coerce.number().int().min(0).max(maxListed).describe(`connections listed (default and cap ${maxListed}; 0: only the counts)`).optional(),
      }),
      response: z.object({
        connections: z.array(listedConnection),
        total: z.number().int().min(0).describe('connections that matched, over every node'),
        subscriptions: z.number().int().min(0).describe('subscriptions held by the connections that matched'),
        nodes: z.number().int().min(1).describe('nodes that answered'),
        complete: z.boolean().describe('false when a live node did not answer in time: its connections are missing'),
      }),
      errors: [503],
      async handler({ node, tenant, key, query }) {
        return node.tenantViews.connections({
          tenant: readableTenant(key, tenant, query.tenant),
          limit: query.limit ?? maxListed,
          ...(query.user ? { user: query.user } : {}),
          ...(query.ip ? { ip: query.ip } : {}),
        });
      },
    }),
  ];
}
