import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import { type CommandDefinition, defineCommand } from '../../core/command.js';
import type { SessionContext } from '../../core/context.js';
import { can } from '../../core/permissions.js';
import { ReplyError } from '../../errors/reply-error.js';
import { USER_NAMESPACE } from './delivery.js';
import type { Inbox } from './inbox.js';
import { idempotencyKey, listFilters, notificationContent, notificationId, preferencesPatch, userId } from './schemas.js';

/** The largest page a command may ask for; `notifications.pageSize` caps it further. */
const MAX_PAGE = 1000;

const self = (client: SessionContext): Identity => client.identity as Identity;

/**
 * Client commands of the inbox. Every one acts on the connection's own user and tenant
 * only: an id of another user's notification is NotFound, like an id that does not exist.
 */
export function notificationCommands(inbox: () => Inbox): CommandDefinition[] {
  return [
    defineCommand({
      method: 'notifications.list',
      params: z.strictObject(listFilters(MAX_PAGE)),
      async handler({ client }, p) {
        const { tenant, user } = self(client);
        return inbox().list(tenant, user, p);
      },
    }),
    defineCommand({
      method: 'notifications.unread_count',
      params: z.strictObject({}),
      async handler({ client }) {
        const { tenant, user } = self(client);
        return inbox().unreadCount(tenant, user);
      },
    }),
    defineCommand({
      method: 'notifications.mark_read',
      params: z.strictObject({ id: notificationId }),
      async handler({ client }, p) {
        const { tenant, user } = self(client);
        await inbox().markRead(tenant, user, p.id);
        return {};
      },
    }),
    defineCommand({
      method: 'notifications.mark_all_read',
      params: z.strictObject({}),
      async handler({ client }) {
        const { tenant, user } = self(client);
        return inbox().markAllRead(tenant, user);
      },
    }),
    defineCommand({
      method: 'notifications.mark_seen',
      params: z.strictObject({}),
      async handler({ client }) {
        const { tenant, user } = self(client);
        return inbox().markAllSeen(tenant, user);
      },
    }),
    defineCommand({
      method: 'notifications.archive',
      params: z.strictObject({ id: notificationId }),
      async handler({ client }, p) {
        const { tenant, user } = self(client);
        await inbox().archive(tenant, user, p.id);
        return {};
      },
    }),
    defineCommand({
      method: 'notifications.preferences.get',
      params: z.strictObject({}),
      async handler({ client }) {
        const { tenant, user } = self(client);
        return inbox().preferences(tenant, user);
      },
    }),
    defineCommand({
      method: 'notifications.preferences.set',
      params: z.strictObject(preferencesPatch),
      async handler({ client }, p) {
        const { tenant, user } = self(client);
        return inbox().setPreferences(tenant, user, p);
      },
    }),
    defineCommand({
      method: 'notifications.create',
      params: notificationContent.omit({ actor: true }).extend({ user: userId, idempotencyKey: idempotencyKey.optional() }),
      async handler({ client, node }, p) {
        const identity = self(client);
        const cfg = inbox().config();
        if (!cfg.clientCreate) throw new ReplyError(ErrorCode.NotAvailable, 'clients may not create notifications (notifications.clientCreate)');
        if (!cfg.clientTypes.includes(p.type)) throw new ReplyError(ErrorCode.PermissionDenied, `type "${p.type}" may not be created by clients`);
        if (p.priority === 'critical') throw new ReplyError(ErrorCode.PermissionDenied, 'clients may not create critical notifications');
        const ch = node.resolve(identity.tenant, `${USER_NAMESPACE}:${p.user}`);
        if (!can(identity, ch, 'publish')) throw new ReplyError(ErrorCode.PermissionDenied, `needs the publish capability on ${ch.channel}`);
        if (!client.publishBucket.take()) throw new ReplyError(ErrorCode.TooManyRequests, 'publish rate per connection');
        const { user, idempotencyKey: key, ...content } = p;
        return inbox().create(
          identity.tenant,
          [user],
          { ...content, actor: { id: identity.user } },
          {
            idempotencyKey: key === undefined ? undefined : `user:${identity.user}:${key}`,
          },
        );
      },
    }),
  ] as CommandDefinition[];
}
