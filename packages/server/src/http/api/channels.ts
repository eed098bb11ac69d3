import { z } from 'zod';
import { type ApiRoute, defineRoute } from './route.js';

export function channelRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/channels',
      operationId: 'channels',
      tag: 'channels',
      summary: 'Channels with subscribers on this node',
      description: 'Sorted by name. Only channels with at least one subscriber connected to the node that answers.',
      query: z.strictObject({ prefix: z.string().max(1024).describe('only channels whose name starts with this, e.g. `project:`').optional() }),
      response: z.object({ channels: z.array(z.object({ channel: z.string(), subscribers: z.number().int().min(0) })) }),
      async handler({ node, tenant, query }) {
        const prefix = query.prefix ?? '';
        const channels = node.channels(tenant)
          .filter((c) => c.channel.startsWith(prefix))
          .sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
        return { channels };
      },
    }),
  ];
}
