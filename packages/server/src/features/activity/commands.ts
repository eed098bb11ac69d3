import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import { type CommandDefinition, defineCommand } from '../../core/command.js';
import { can } from '../../core/permissions.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { ActivityFeeds } from './feeds.js';
import { activityContent, idempotencyKey, listFilters, scope } from './schemas.js';

const MAX_PAGE = 1000;

/**
 * Client commands of activity feeds. `activity.record` needs the scope's namespace to allow
 * client publish and the publish permission on the scope; the actor is the connection's
 * user and the time is now. `activity.list` needs the subscribe permission on the scope.
 */
export function activityCommands(feeds: () => ActivityFeeds): CommandDefinition[] {
  return [
    defineCommand({
      method: 'activity.record',
      params: z.strictObject({ ...activityContent, idempotencyKey: idempotencyKey.optional() }),
      async handler({ client }, p) {
        const identity = client.identity as Identity;
        const ch = feeds().resolveScope(identity.tenant, p.scope);
        if (!ch.options.clientPublish) throw new ReplyError(ErrorCode.NotAvailable, 'client publish is disabled in this namespace');
        if (!can(identity, ch, 'publish')) throw new ReplyError(ErrorCode.PermissionDenied, `needs the publish permission on ${ch.channel}`);
        if (!client.publishBucket.take()) throw new ReplyError(ErrorCode.TooManyRequests, 'publish rate per connection');
        const { idempotencyKey: key, ...content } = p;
        return feeds().record(identity.tenant, { ...content, actor: identity.user }, key === undefined ? undefined : `user:${identity.user}:${key}`);
      },
    }),
    defineCommand({
      method: 'activity.list',
      params: z.strictObject({ scope, ...listFilters(MAX_PAGE) }),
      async handler({ client }, p) {
        const identity = client.identity as Identity;
        const ch = feeds().resolveScope(identity.tenant, p.scope);
        if (!feeds().mayRead(identity, ch)) throw new ReplyError(ErrorCode.PermissionDenied, `needs the subscribe permission on ${ch.channel}`);
        return feeds().list(identity.tenant, p);
      },
    }),
  ] as CommandDefinition[];
}
