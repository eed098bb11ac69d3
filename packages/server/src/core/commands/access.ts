import { ErrorCode } from '@switchboard/protocol';
import type { Identity } from '../../auth/token-verifier.js';
import type { NamespaceConfig } from '../../config/schema.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { ResolvedChannel } from '../channels.js';
import type { CommandContext } from '../command.js';
import type { NodeContext, SessionContext } from '../context.js';
import type { KernelCommandContext } from '../kernel-context.js';
import { type Action, can } from '../permissions.js';
import { noticeChannel } from '../security-events.js';

type Switch = 'presence' | 'signals' | 'clientPublish' | 'history';
const DISABLED: Record<Switch, string> = {
  presence: 'presence is disabled in this namespace',
  signals: 'signals are disabled in this namespace',
  clientPublish: 'client publish is disabled in this namespace',
  history: 'history is disabled in this namespace',
};

function enabled(ns: NamespaceConfig, s: Switch): boolean {
  return s === 'history' ? ns.historySize > 0 : ns[s];
}

/**
 * Resolve a channel for the connection's tenant and check, in order: the namespace
 * enables the action (`NotAvailable`), then the identity may do it (`PermissionDenied`).
 */
export function authorize({ client, node }: CommandContext, channel: string, action: Action, needs?: Switch): ResolvedChannel {
  const identity = client.identity as Identity;
  const ch = resolveForClient(client, node, channel, action);
  if (needs && !enabled(ch.options, needs)) throw new ReplyError(ErrorCode.NotAvailable, DISABLED[needs]);
  if (!can(identity, ch, action)) {
    reportForbidden(client, node, channel, action, 'permission');
    throw new ReplyError(ErrorCode.PermissionDenied);
  }
  return ch;
}

/**
 * `authorize`, for a read of a channel's history or presence: a connection that is not
 * subscribed to the channel must also pass `beforeSubscribe` (the backend's subscribe hook,
 * a feature's own check), so a read never shows what a subscription would have refused.
 */
export async function authorizeRead(ctx: KernelCommandContext, channel: string, action: Action, needs: Switch): Promise<ResolvedChannel> {
  const ch = authorize(ctx, channel, action, needs);
  if (ctx.client.isSubscribed(ch.key)) return ch;
  await ctx.node.runHook('beforeSubscribe', { client: ctx.client, channel: ch });
  return ch;
}

/**
 * Resolve a channel name a connection sent in its tenant. A name that tries to reach past
 * the tenant (a `|`, the key separator) is refused like any invalid name and reported.
 */
export function resolveForClient(client: SessionContext, node: NodeContext, channel: string, action: string): ResolvedChannel {
  const identity = client.identity as Identity;
  try {
    return node.resolve(identity.tenant, channel);
  } catch (err) {
    if (typeof channel === 'string' && channel.includes('|')) reportForbidden(client, node, channel, action, 'cross_tenant');
    throw err;
  }
}

/** Tell the security door about a refused channel attempt. */
export function reportForbidden(client: SessionContext, node: NodeContext, channel: string, action: string, reason: 'permission' | 'cross_tenant'): void {
  const identity = client.identity;
  if (!identity || !node.security.active) return;
  node.security.report({
    type: 'channel.forbidden',
    tenant: identity.tenant,
    user: identity.user,
    ip: client.meta.ip,
    channel: noticeChannel(channel),
    action,
    reason,
  });
}
