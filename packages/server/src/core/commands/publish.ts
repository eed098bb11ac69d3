import { ErrorCode, PUBLICATION_PRIORITIES } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import { ReplyError } from '../../errors/reply-error.js';
import { historyPageJson } from '../encode.js';
import { kernelCommand } from '../kernel-context.js';
import { authorize, authorizeRead } from './access.js';
import { userBudget } from './budget.js';
import { channelParam, idempotencyKeyParam, jsonParam, positionParam, tagsParam, toJsonText } from './schemas.js';

export const publishCommand = kernelCommand({
  method: 'publish',
  pipelined: true,
  params: z.strictObject({
    channel: channelParam,
    data: jsonParam,
    idempotencyKey: idempotencyKeyParam.optional(),
    tags: tagsParam.optional(),
    priority: z.enum(PUBLICATION_PRIORITIES).optional(),
  }),
  async handler(ctx, params) {
    const { client, node } = ctx;
    const identity = client.identity as Identity;
    const ch = authorize(ctx, params.channel, 'publish', 'clientPublish');
    const data = toJsonText(params.data);
    node.checkPublicationSize(ch, data);
    node.checkPayload(ch, 'publication', params.data);
    if (!client.publishBucket.take()) throw new ReplyError(ErrorCode.TooManyRequests, 'publish rate per connection');
    await node.quotas.spendPublish(identity.tenant);
    // The per-user budget is shared by every node; the engine takes from it in the publish's own step.
    const rateLimit = userBudget(node.config, identity);
    const outcome = await node.publish(ch, data, {
      client,
      rateLimit,
      ...(params.idempotencyKey ? { idempotencyKey: params.idempotencyKey } : {}),
      ...(params.tags ? { tags: params.tags } : {}),
      ...(params.priority ? { priority: params.priority } : {}),
    });
    return outcome.deduplicated ? outcome : { offset: outcome.offset, epoch: outcome.epoch };
  },
});

export const historyCommand = kernelCommand({
  method: 'history',
  params: z.strictObject({
    channel: channelParam,
    limit: z.number().int().min(0).max(1_000_000).optional(),
    since: positionParam.optional(),
    reverse: z.boolean().optional(),
  }),
  async handler(ctx, params) {
    const { node } = ctx;
    const ch = await authorizeRead(ctx, params.channel, 'history', 'history');
    const limit = Math.min(params.limit ?? node.config.limits.historyPageSize, node.config.limits.historyPageSize);
    const page = await node.history(ch, { limit, ...(params.since ? { since: params.since } : {}), ...(params.reverse ? { reverse: true } : {}) });
    if (params.since && params.since.epoch !== page.epoch) throw new ReplyError(ErrorCode.UnrecoverablePosition, 'epoch changed');
    return historyPageJson(page);
  },
});
