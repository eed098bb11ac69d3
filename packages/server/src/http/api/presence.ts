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

/** Most channels one `GET /presence` reads the presence of. */
const MAX_CHANNELS = 200;

/** Who is present where: one channel's members, its counts, and every channel of a tenant with members. */
export function presenceRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/presence',
      operationId: 'tenantPresence',
      tag: 'channels',
      summary: 'Who is present where: the channels of the tenant with presence members, and their members',
      description:
        'The channels with subscribers (as `GET /channels` lists them, over every node) whose namespace has presence, by name, ' +
        'at most `limit` of them read; those with at least one member are listed with their members. `channels` counts the ' +
        'channels read; `more` is true when further channels were not read.',
      query: z.strictObject({
        prefix: z.string().max(1024).describe('only channels whose name starts with this, e.g. `project:`').optional(),
        limit: z.coerce.number().int().min(1).max(MAX_CHANNELS).describe(`channels read (default and cap ${MAX_CHANNELS})`).optional(),
      }),
      response: z.object({
        present: z.array(z.object({ channel: z.string(), members: z.array(presenceMember) })),
        channels: z.number().int().min(0).describe('channels with presence that were read'),
        more: z.boolean().describe('channels beyond `limit` were not read'),
        nodes: z.number().int().min(1).describe('nodes whose channels are counted'),
        complete: z.boolean().describe('every live node answered'),
      }),
      errors: [503],
      async handler({ node, tenant, query }) {
        const list = await node.clusterChannels(tenant, query.prefix ?? '');
        const names = list.channels.map((c) => c.channel).sort();
        const limit = query.limit ?? MAX_CHANNELS;
        const resolved: ResolvedChannel[] = [];
        let more = false;
        for (const name of names) {
          let ch: ResolvedChannel;
          try {
            ch = node.resolve(tenant, name);
          } catch {
            continue;
          }
          if (!ch.options.presence) continue;
          if (resolved.length === limit) {
            more = true;
            break;
          }
          resolved.push(ch);
        }
        const members = await Promise.all(resolved.map((ch) => node.presence(ch)));
        const present = resolved.map((ch, i) => ({ channel: ch.channel, members: members[i] ?? [] })).filter((c) => c.members.length > 0);
        return { present, channels: resolved.length, more, nodes: list.nodes, complete: list.complete };
      },
    }),
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
