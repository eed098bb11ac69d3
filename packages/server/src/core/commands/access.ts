import { ErrorCode } from '@switchboard/protocol';
import type { Identity } from '../../auth/token-verifier.js';
import type { NamespaceConfig } from '../../config/schema.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { ResolvedChannel } from '../channels.js';
import type { CommandContext } from '../command.js';
import { type Action, can } from '../permissions.js';

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
  const ch = node.resolve(identity.tenant, channel);
  if (needs && !enabled(ch.options, needs)) throw new ReplyError(ErrorCode.NotAvailable, DISABLED[needs]);
  if (!can(identity, ch, action)) throw new ReplyError(ErrorCode.PermissionDenied);
  return ch;
}
