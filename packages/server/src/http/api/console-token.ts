import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { TokenClaims } from '../../auth/mint.js';
import { ReplyError } from '../../errors/reply-error.js';
import { CONSOLE_TENANT } from '../../observability/self-figures.js';
import { type ApiRoute, defineRoute } from './route.js';

/** Mints a connection token with the server's HMAC secret; null when the server verifies tokens by public keys only. */
export type ConsoleMint = ((claims: TokenClaims) => Promise<string>) | null;

/** The tenant of the web console's own connections: no app's users are in it, and its tokens grant no capability. */
export { CONSOLE_TENANT };

/** How long a console token is valid; the console's SDK client refreshes it over the live connection before then. */
export const CONSOLE_TOKEN_SECONDS = 300;

/**
 * `POST /console/token`: a short-lived connection token for the web console's own SDK
 * connection, which follows the server's figures live (the system scope, with a grant of
 * `POST /metrics/system/grants`). Admin key only; the token is for the tenant `_console`,
 * user `console-<key id>`, with no capability: it opens a connection and nothing of any
 * app's tenant.
 */
export function consoleTokenRoutes(mint: () => ConsoleMint, maxLifetimeMs: number): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/console/token',
      operationId: 'createConsoleToken',
      tag: 'keys',
      summary: "A short-lived connection token for the web console's own SDK connection (admin key)",
      description:
        'Answers `{token, expiresAt, tenant, user}`: a connection token (5 minutes, or `auth.maxTokenLifetime` when shorter) for the tenant `_console`, user `console-<key id>`, with no capability. It lets the console open an SDK connection to follow the server\'s own figures (`metrics.subscribe` with `scope: "system"` and a grant); it reaches no app tenant and no channel that needs a capability. Only an admin key gets one: no key 401, a tenant key 403; 503 when the server has no HMAC secret to sign with (tokens verified by public keys only).',
      admin: true,
      body: z.strictObject({}).optional().describe('nothing'),
      response: z.object({
        token: z.string().describe("a JWT for `connect` (the SDK's `getToken`)"),
        expiresAt: z.number().int().describe("the token's exp, ms since the epoch"),
        tenant: z.string().describe('always `_console`'),
        user: z.string().describe('`console-<key id>`'),
      }),
      errors: [503],
      async handler({ node, actor }) {
        const sign = mint();
        if (sign === null) throw new ReplyError(ErrorCode.Unavailable, 'this server has no HMAC secret to sign console tokens with');
        const seconds = Math.max(1, Math.min(CONSOLE_TOKEN_SECONDS, Math.floor(maxLifetimeMs / 1000)));
        const user = `console-${actor.keyId ?? 'admin'}`;
        const token = await sign({ sub: user, tenant: CONSOLE_TENANT, caps: {}, ttlSeconds: seconds });
        return { token, expiresAt: (Math.floor(node.now() / 1000) + seconds) * 1000, tenant: CONSOLE_TENANT, user };
      },
    }),
  ];
}
