import { DisconnectCode, type DisconnectInfo } from '@switchboard/protocol';
import { z } from 'zod';
import { type ApiRoute, defineRoute } from './route.js';
import { channelName, emptyResult, userParams } from './schemas.js';

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

export function userRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/users/:user/disconnect',
      operationId: 'disconnectUser',
      tag: 'users',
      summary: 'Close every connection of a user, on every node',
      description: "The body is optional. Connections the user opens afterwards are not refused: revoke the user's tokens for that.",
      params: userParams,
      body: z.strictObject({ code: closeCode.optional(), reason: closeReason.optional() }).optional(),
      response: emptyResult,
      async handler({ node, tenant, params, body }) {
        await node.disconnectUser(tenant, params.user, closeInfo(body?.code, body?.reason));
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
      async handler({ node, tenant, params, body }) {
        const ch = node.resolve(tenant, body.channel);
        await node.unsubscribeUser(tenant, params.user, ch.channel);
        return {};
      },
    }),
  ];
}
