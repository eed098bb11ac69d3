import { z } from 'zod';
import { type ApiRoute, defineRoute } from './route.js';

export function channelRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/channels',
      operationId: 'channels',
      tag: 'channels',
      summary: 'Channels with subscribers, on every node',
      description:
        'Sorted by name; subscribers summed over the nodes. With the Redis engine the node that answers asks every live ' +
        'node and waits up to 1 s for their answers; `complete` is false when a node registered as live did not answer in time ' +
        '(its channels are missing; a crashed node stops being expected within `timeouts.presenceTtl`). `publishRate` is the ' +
        'publications per second accepted for the channel over the last 10 s, summed over the nodes that accepted them.',
      query: z.strictObject({ prefix: z.string().max(1024).describe('only channels whose name starts with this, e.g. `project:`').optional() }),
      response: z.object({
        channels: z.array(
          z.object({
            channel: z.string(),
            subscribers: z.number().int().min(0),
            publishRate: z.number().min(0).describe('publications per second over the last 10 s, over every node'),
          }),
        ),
        nodes: z.number().int().min(1).describe('nodes whose channels are counted'),
        complete: z.boolean().describe('every live node answered'),
      }),
      errors: [503],
      async handler({ node, tenant, query }) {
        const prefix = query.prefix ?? '';
        const [list, rates] = await Promise.all([node.clusterChannels(tenant, prefix), node.tenantViews.channelRates(tenant, prefix)]);
        const channels = list.channels
          .map((c) => ({ ...c, publishRate: Math.round((rates.rates.get(c.channel) ?? 0) * 100) / 100 }))
          .sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
        return { channels, nodes: list.nodes, complete: list.complete && rates.complete };
      },
    }),
  ];
}
