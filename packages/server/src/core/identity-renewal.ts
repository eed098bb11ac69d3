import { DisconnectCode } from '@switchboard/protocol';
import { type Identity, validUntil } from '../auth/token-verifier.js';
import { ReplyError } from '../errors/reply-error.js';
import { unsubscribePush } from './encode.js';
import type { KernelNode, KernelSession } from './kernel-context.js';
import { can } from './permissions.js';

/**
 * A new identity for the same user (a `refresh` token, or a feature extending an expiring
 * one): new capabilities and expiry; subscriptions the new capabilities no longer allow end.
 */
export function replaceIdentity(node: KernelNode, client: KernelSession, identity: Identity): void {
  client.refreshIdentity(identity);
  for (const sub of [...client.subscriptions()]) {
    if (can(identity, sub.ch, 'subscribe')) continue;
    node.removeSubscription(client, sub.ch.key);
    client.enqueue(unsubscribePush(sub.ch.channel, DisconnectCode.Forbidden.code, 'permission revoked'));
  }
}

/**
 * The connection's identity expired: a feature may extend it (`onIdentityExpiry` answers an
 * identity of the same user and tenant, valid now); otherwise the connection closes with
 * 3003, or with 3002 (reconnect) when the hook failed temporarily.
 */
export async function identityExpired(node: KernelNode, client: KernelSession): Promise<void> {
  const current = client.identity;
  if (!current || client.closed) return;
  let identity: Identity | undefined;
  try {
    identity = (await node.runHook('onIdentityExpiry', { client, identity: current }))?.identity;
  } catch (err) {
    if (!(err instanceof ReplyError)) node.logger.warn({ err }, 'onIdentityExpiry hook failed');
    const temporary = !(err instanceof ReplyError) || err.temporary;
    client.close(temporary ? DisconnectCode.ServerError : DisconnectCode.Expired);
    return;
  }
  if (client.closed) return;
  const valid =
    identity !== undefined &&
    identity.user === current.user &&
    identity.tenant === current.tenant &&
    validUntil(identity, node.config.auth.clockSkew) > node.now();
  if (!valid) {
    client.close(DisconnectCode.Expired);
    return;
  }
  replaceIdentity(node, client, identity as Identity);
}
