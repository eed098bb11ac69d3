import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import { type ApiRoute, defineRoute } from './route.js';
import { channelParams, presenceMember } from './schemas.js';

function presenceChannel(node: NodeContext, tenant: string, channel: string): ResolvedChannel {
  const ch = node.resolve(tenant, channel);
  if (!ch.options.presence) throw new ReplyError(ErrorCode.NotAvailable, 'presence is disabled in this namespace');
  return ch;
}

export function presenceRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/channels/:channel/presence',
      operationId: 'presence',
      tag: 'channels',
      summary: 'Who is present in a channel',
      description: 'One member per user, with one device per connection.',
      params: channelParams,
      response: z.object({ members: z.array(presenceMember) }),
      errors: [422, 503],
      async handler({ node, tenant, params }) {
        return { members: await node.presence(presenceChannel(node, tenant, params.channel)) };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/channels/:channel/presence/stats',
      operationId: 'presenceStats',
      tag: 'channels',
      summary: 'How many users and connections are present in a channel',
      params: channelParams,
      response: z.object({ users: z.number().int().min(0), connections: z.number().int().min(0) }),
      errors: [422, 503],
      async handler({ node, tenant, params }) {
        const { users, connections } = await node.presenceStats(presenceChannel(node, tenant, params.channel));
        return { users, connections };
      },
    }),
  ];
}
