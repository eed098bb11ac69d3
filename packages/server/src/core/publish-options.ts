import { ErrorCode, type PublicationPriority } from '@switchboard/protocol';
import type { Config } from '../config/schema.js';
import type { PublishOptions } from '../engine/broker.js';
import { ReplyError } from '../errors/reply-error.js';
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
    ...priorityOption(ch, req),
  };
}

/**
 * The publication's priority (only when not `normal`): the request's or the namespace's
 * default; a client may use only what the namespace allows (103 PermissionDenied).
 */
function priorityOption(ch: ResolvedChannel, req: PublishRequest): { priority?: PublicationPriority } {
  const p = ch.options.priorities;
  const priority = req.priority ?? p?.default ?? 'normal';
  if (req.client && req.priority !== undefined && !(p?.allowed ?? ['normal']).includes(req.priority)) {
    throw new ReplyError(ErrorCode.PermissionDenied, `priority ${req.priority} is not allowed in this namespace`);
  }
  return priority === 'normal' ? {} : { priority };
}
