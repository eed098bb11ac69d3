import { DisconnectCode, type DisconnectInfo } from '@switchboard/protocol';
import { z } from 'zod';
import { QUOTA_NAMES } from '../../config/schema.js';
import { type ApiRoute, defineRoute } from './route.js';
import { channelName, emptyResult, userId, userParams } from './schemas.js';

const SWITCHBOARD_CLOSE_CODES = Object.values(DisconnectCode).map((d) => d.code);

const closeCode = z
  .union([z.literal(SWITCHBOARD_CLOSE_CODES), z.number().int().min(4000).max(4999)])
  .describe(
    `WebSocket close code sent to the user's connections: a Switchboard close code or an application code 4000–4999 (default ${DisconnectCode.ForceDisconnect.code}: do not reconnect)`,
  );
/** WebSocket close reasons are limited to 123 bytes. */
const closeReason = z
  .string()
  .refine((s) => Buffer.byteLength(s) <= 123, 'at most 123 bytes')
  .describe('close reason, at most 123 bytes');

function closeInfo(code: number | undefined, reason: string | undefined): DisconnectInfo {
  const known = Object.values(DisconnectCode).find((d) => d.code === code);
  const base = known ?? DisconnectCode.ForceDisconnect;
  return { code: code ?? base.code, reason: reason ?? base.reason };
}

const status = z.enum(['online', 'away', 'idle']);
const userPresence = z.object({
  user: z.string(),
  online: z.boolean().describe('true while the user has at least one connection'),
  status: status.nullable().describe('the most active status over the connections (online > away > idle); null when offline'),
  channels: z.array(z.string()).describe('channels the user is present in on any connection, sorted'),
  devices: z.array(
    z.object({
      client: z.string(),
      status,
      connectedAt: z.number().int().describe('Unix ms'),
      node: z.string().describe('node the connection is on'),
      channels: z.array(z.string()).describe('channels this connection is present in, sorted'),
    }),
  ),
  complete: z.boolean().describe('false when a live node did not answer in time: its connections are missing'),
});

const tenantStats = z.object({
  connections: z.number().int(),
  usersOnline: z.number().int().describe('distinct users with at least one connection'),
  channels: z.number().int().describe('channels with at least one subscriber'),
  subscriptions: z.number().int(),
  messagesInPerSecond: z.number().describe("messages received from the tenant's connections per second, over every node (5 s average)"),
  messagesOutPerSecond: z.number().describe("messages sent to the tenant's connections per second, over every node (5 s average)"),
  nodes: z.number().int().describe('nodes counted'),
  complete: z.boolean().describe('false when a live node did not answer in time'),
  quotas: z
    .object(Object.fromEntries(QUOTA_NAMES.map((n) => [n, z.object({ used: z.number().int().nullable(), limit: z.number().int().nullable() })])))
    .describe(
      "usage against each of the tenant's quotas (limit null: none). connections: over every node; publishesPerMinute: publishes of the last 60 s; presenceMembers: per channel, so used is null; notifications, activity: rows stored (null when the feature is off)",
    ),
});

export function userRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/users/:user/presence',
      operationId: 'userPresence',
      tag: 'users',
      summary: 'Where a user is present in the tenant, on every node',
      description: "The user's connections (devices) with their status and the channels each is present in. Other tenants' users are never seen.",
      params: userParams,
      response: userPresence,
      errors: [503],
      async handler({ node, tenant, params }) {
        return node.tenantViews.userPresence(tenant, params.user);
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/stats',
      operationId: 'tenantStats',
      tag: 'users',
      summary: "The tenant's live numbers, over every node",
      description: 'Connections and users online (from the shared connection counters), channels and subscriptions, messages in and out per second.',
      response: tenantStats,
      errors: [503],
      async handler({ node, tenant }) {
        return node.tenantViews.stats(tenant);
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/users/:user/disconnect',
      operationId: 'disconnectUser',
      tag: 'users',
      summary: 'Close every connection of a user (or one of them), on every node',
      description:
        "The body is optional; with `client` only that connection closes. Connections the user opens afterwards are not refused: revoke the user's tokens for that.",
      params: userParams,
      body: z
        .strictObject({
          code: closeCode.optional(),
          reason: closeReason.optional(),
          client: z.string().min(1).max(64).describe('only this connection of the user (its id, as `GET /connections` lists it)').optional(),
        })
        .optional(),
      response: emptyResult,
      async handler({ node, tenant, params, body, actor }) {
        await node.disconnectUser(tenant, params.user, closeInfo(body?.code, body?.reason), body?.client);
        if (node.security.active)
          node.security.report({
            type: 'admin.user_disconnected',
            tenant,
            actor,
            target: { user: params.user, ...(body?.client ? { client: body.client } : {}) },
          });
        return {};
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/users/:user/subscribe',
      operationId: 'subscribeUser',
      tag: 'users',
      summary: "Subscribe a user's connections to a channel, on every node",
      description:
        "Each connection of the user gets a `subscribe` push with the stream position, then the channel's publications. The namespace rules and the token's capabilities apply per connection: a connection that may not subscribe gets a `subscribe` push with an `error`.",
      params: userParams,
      body: z.strictObject({ channel: channelName }),
      response: emptyResult,
      errors: [422, 503],
      async handler({ node, tenant, params, body }) {
        const ch = node.resolve(tenant, body.channel);
        await node.subscribeUser(tenant, params.user, ch.channel);
        return {};
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/subscribe',
      operationId: 'subscribe',
      tag: 'users',
      summary: "Subscribe a user's connections to a channel, on every node (the user in the body)",
      description: 'The same as `POST /users/{user}/subscribe`.',
      body: z.strictObject({ user: userId, channel: channelName }),
      response: emptyResult,
      errors: [422, 503],
      async handler({ node, tenant, body }) {
        const ch = node.resolve(tenant, body.channel);
        await node.subscribeUser(tenant, body.user, ch.channel);
        return {};
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/users/:user/unsubscribe',
      operationId: 'unsubscribeUser',
      tag: 'users',
      summary: "Remove a user's subscription to a channel, on every node",
      description: "Each of the user's connections subscribed to the channel gets an `unsubscribe` push.",
      params: userParams,
      body: z.strictObject({ channel: channelName }),
      response: emptyResult,
      errors: [422],
      async handler({ node, tenant, params, body, actor }) {
        const ch = node.resolve(tenant, body.channel);
        await node.unsubscribeUser(tenant, params.user, ch.channel);
        if (node.security.active)
          node.security.report({ type: 'admin.subscription_removed', tenant, actor, target: { user: params.user, channel: ch.channel } });
        return {};
      },
    }),
  ];
}
