import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import { historyPageJson } from '../../core/encode.js';
import { ReplyError } from '../../errors/reply-error.js';
import { type ApiRoute, defineRoute } from './route.js';
import { channelParams, publication, queryInt, streamPosition } from './schemas.js';

const queryBool = (description: string) =>
  z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .describe(description);

export function historyRoutes(pageSize: number): ApiRoute[] {
  const query = z
    .strictObject({
      limit: queryInt(`publications per page, capped at ${pageSize} (default ${pageSize}; 0 returns only the stream position)`).optional(),
      since_offset: queryInt('only publications after this offset (with since_epoch)').optional(),
      since_epoch: z.string().min(1).max(64).describe('the epoch since_offset belongs to; 409 when the channel has a new epoch').optional(),
      reverse: queryBool('newest first').optional(),
    })
    .refine((q) => (q.since_offset === undefined) === (q.since_epoch === undefined), {
      message: 'since_offset and since_epoch go together',
      path: ['since_offset'],
    });

  return [
    defineRoute({
      method: 'GET',
      url: '/channels/:channel/history',
      operationId: 'history',
      tag: 'channels',
      summary: "Read a channel's history",
      description:
        'Oldest first (newest first with reverse). Page forward with since_offset = the last offset of the previous page and since_epoch = its epoch.',
      params: channelParams,
      query,
      response: streamPosition.extend({ publications: z.array(publication) }),
      errors: [409, 422, 503],
      async handler({ node, tenant, params, query: q }) {
        const ch = node.resolve(tenant, params.channel);
        if (ch.options.historySize === 0) throw new ReplyError(ErrorCode.NotAvailable, 'history is disabled in this namespace');
        const since = q.since_offset !== undefined && q.since_epoch !== undefined ? { offset: q.since_offset, epoch: q.since_epoch } : undefined;
        const limit = Math.min(q.limit ?? pageSize, pageSize);
        const page = await node.history(ch, { limit, ...(since ? { since } : {}), ...(q.reverse ? { reverse: true } : {}) });
        if (since && since.epoch !== page.epoch) throw new ReplyError(ErrorCode.UnrecoverablePosition, 'epoch changed');
        // Stored payloads are JSON text already: splice them instead of parsing and re-serialising.
        return historyPageJson(page);
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/channels/:channel/history',
      operationId: 'removeHistory',
      tag: 'channels',
      summary: "Remove a channel's history",
      description:
        'Drops every stored publication; the next publication starts a new epoch at offset 1. Live subscribers, on every node, get an unsubscribe push with code 3009 and resubscribe with recovered false.',
      params: channelParams,
      response: z.strictObject({}),
      errors: [503],
      async handler({ node, tenant, params }) {
        await node.removeHistory(node.resolve(tenant, params.channel));
        return {};
      },
    }),
  ];
}
