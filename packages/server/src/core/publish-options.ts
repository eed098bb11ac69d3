import type { Config } from '../config/schema.js';
import type { PublishOptions } from '../engine/broker.js';
import type { ResolvedChannel } from './channels.js';
import type { PublishRequest } from './context.js';
import { publisherInfo } from './presence.js';
import { checkTags } from './tag-filter.js';

/**
 * What the broker is told of one publish: the namespace's history, the idempotency key,
 * the rate bucket, publisher info and the tags (checked here, before anything runs:
 * 126 InvalidTags, or 108 where the namespace has tags off).
 */
export function publishOptions(ch: ResolvedChannel, req: PublishRequest, config: Config): PublishOptions {
  const ns = ch.options;
  const client = req.client ?? null;
  return {
    historySize: ns.historySize,
    historyTtl: ns.historyTtl,
    idempotencyTtl: config.timeouts.idempotency,
    ...(req.idempotencyKey !== undefined ? { idempotencyKey: req.idempotencyKey } : {}),
    ...(req.rateLimit ? { rateLimit: req.rateLimit } : {}),
    ...(ns.publisherInfo && client?.identity ? { info: publisherInfo(client.identity, client.id) } : {}),
    ...(req.tags !== undefined ? { tags: checkTags(ch, req.tags, config.limits) } : {}),
  };
}
