import type { PublicationPriority } from '@switchboard/protocol';
import { z } from 'zod';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import type { ScheduledPublications } from '../../core/scheduled-publications.js';
import type { PublishOutcome } from '../../engine/broker.js';
import { ReplyError } from '../../errors/reply-error.js';
import { type ApiRoute, defineRoute } from './route.js';
import {
  channelName,
  idempotencyKey,
  itemResult,
  jsonData,
  publicationPriority,
  publicationTags,
  publishAt,
  publishResult,
  scheduledPublication,
} from './schemas.js';

type ItemResult = z.output<typeof itemResult>;

/** The wire form of an outcome: `deduplicated` only when true, as on the WebSocket. */
function resultOf(outcome: PublishOutcome): z.output<typeof publishResult> {
  return outcome.deduplicated ? { offset: outcome.offset, epoch: outcome.epoch, deduplicated: true } : { offset: outcome.offset, epoch: outcome.epoch };
}

/** What a publish route was asked besides the channel. */
interface PublishBody {
  data: unknown;
  idempotencyKey?: string | undefined;
  tags?: Record<string, string> | undefined;
  priority?: PublicationPriority | undefined;
}

/**
 * Publish from the app backend. Unlike a client publish, the namespace's `clientPublish`
 * does not apply and there is no publisher info; the payload size limit does.
 */
async function publishTo(node: NodeContext, ch: ResolvedChannel, body: PublishBody, data: string): Promise<PublishOutcome> {
  node.checkPublicationSize(ch, data);
  node.checkPayload(ch, 'publication', body.data);
  await node.quotas.spendPublish(ch.tenant);
  const key = body.idempotencyKey;
  return node.publish(ch, data, {
    ...(key !== undefined ? { idempotencyKey: key } : {}),
    ...(body.tags !== undefined ? { tags: body.tags } : {}),
    ...(body.priority !== undefined ? { priority: body.priority } : {}),
  });
}

/** One item of a broadcast or batch: a failure is reported in its result, not thrown. */
async function publishItem(node: NodeContext, tenant: string, channel: string, body: PublishBody, data: string): Promise<ItemResult> {
  try {
    const ch = node.resolve(tenant, channel);
    return { channel, ...resultOf(await publishTo(node, ch, body, data)) };
  } catch (err) {
    const error = err instanceof ReplyError ? err : node.internalError(err, 'http publish');
    return { channel, error: error.toWire() };
  }
}

export function publishRoutes(batchSize: number, scheduled: () => ScheduledPublications): ApiRoute[] {
  const publishBody = z.strictObject({
    channel: channelName,
    data: jsonData,
    idempotencyKey: idempotencyKey.optional(),
    tags: publicationTags.optional(),
    priority: publicationPriority.optional(),
  });
  const scheduledBody = publishBody
    .extend({
      publishAt: publishAt.optional(),
      delaySeconds: z.number().min(0).max(1e9).describe('publish this many seconds from now (a fraction is fine) instead of now').optional(),
    })
    .refine((b) => b.publishAt === undefined || b.delaySeconds === undefined, { message: 'give publishAt or delaySeconds, not both', path: ['delaySeconds'] })
    .refine((b) => b.priority === undefined || (b.publishAt === undefined && b.delaySeconds === undefined), {
      message: 'a scheduled publication goes at the namespace default priority',
      path: ['priority'],
    });
  return [
    defineRoute({
      method: 'POST',
      url: '/publish',
      operationId: 'publish',
      tag: 'publish',
      summary: 'Publish to one channel',
      description:
        'Stored in history before it is delivered. Allowed even where the namespace disables client publish. With publishAt or delaySeconds it is stored as a scheduled publication and answered 202; it is published at that time (see GET /scheduled/{id}).',
      body: scheduledBody,
      response: z.union([publishResult, scheduledPublication]),
      accepted: (result) => 'status' in result,
      errors: [413, 422, 429, 503],
      async handler({ node, tenant, body }) {
        if (body.publishAt !== undefined || body.delaySeconds !== undefined) {
          const at = body.publishAt ?? node.now() + Math.round((body.delaySeconds ?? 0) * 1000);
          return (await scheduled().schedule(tenant, body.channel, body.data, at, body.idempotencyKey, body.tags)).scheduled;
        }
        const ch = node.resolve(tenant, body.channel);
        return resultOf(await publishTo(node, ch, body, JSON.stringify(body.data)));
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/broadcast',
      operationId: 'broadcast',
      tag: 'publish',
      summary: 'Publish one payload to many channels',
      description: `At most ${batchSize} distinct channels. Each channel has its own result: a failure on one does not stop the others.`,
      body: z.strictObject({
        channels: z
          .array(channelName)
          .min(1)
          .max(batchSize)
          .refine((list) => new Set(list).size === list.length, 'channels must be distinct')
          .meta({ uniqueItems: true }),
        data: jsonData,
        idempotencyKey: idempotencyKey.optional(),
        tags: publicationTags.optional(),
        priority: publicationPriority.optional(),
      }),
      response: z.object({ results: z.array(itemResult) }),
      async handler({ node, tenant, body }) {
        const data = JSON.stringify(body.data);
        const results = await Promise.all(body.channels.map((channel) => publishItem(node, tenant, channel, body, data)));
        return { results };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/batch',
      operationId: 'batch',
      tag: 'publish',
      summary: 'Publish many publications in order',
      description: `At most ${batchSize} publications, published one after another in the given order; results come in the same order.`,
      body: z.strictObject({ publications: z.array(publishBody).min(1).max(batchSize) }),
      response: z.object({ results: z.array(itemResult) }),
      async handler({ node, tenant, body }) {
        const results: ItemResult[] = [];
        for (const p of body.publications) results.push(await publishItem(node, tenant, p.channel, p, JSON.stringify(p.data)));
        return { results };
      },
    }),
  ];
}
