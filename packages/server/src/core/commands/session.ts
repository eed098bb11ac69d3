import { DisconnectCode, type DisconnectInfo, ErrorCode, PROTOCOL_VERSION } from '@switchboard/protocol';
import { z } from 'zod';
import { type Identity, TokenError } from '../../auth/token-verifier.js';
import { ReplyError } from '../../errors/reply-error.js';
import { replaceIdentity } from '../identity-renewal.js';
import { type KernelNode, type KernelSession, kernelCommand } from '../kernel-context.js';
import { tokenFingerprint } from '../security-events.js';
import { positionParam } from './schemas.js';
import { serverSubscribe } from './subscribe.js';

/**
 * A token is verified; without one, the features may authenticate the connection
 * (`onAuthenticate`, e.g. by asking the app's backend), else it is refused like a bad token.
 */
async function authenticate(client: KernelSession, node: KernelNode, token: string | undefined): Promise<Identity> {
  if (token !== undefined) return node.verifyToken(token);
  const identity = (await node.runHook('onAuthenticate', { client }))?.identity;
  return identity ?? node.verifyToken(undefined);
}

/** Tell the security door about a refused token: its fingerprint, never the token. */
function reportTokenFailure(client: KernelSession, node: KernelNode, err: TokenError, token: string | undefined, command: string): void {
  if (!node.security.active) return;
  const current = client.identity;
  const who = err.verified ?? (current ? { tenant: current.tenant, user: current.user } : null);
  node.security.report({
    type: 'auth.failed',
    tenant: who?.tenant ?? null,
    user: who?.user ?? null,
    ip: client.meta.ip,
    reason: err.reason,
    fingerprint: tokenFingerprint(token),
    command,
  });
}

/** How a connection whose authentication a feature refused closes: reconnect when it was temporary. */
function refusalClose(err: ReplyError): DisconnectInfo {
  if (err.temporary) return DisconnectCode.ServerError;
  return err.code === ErrorCode.Unauthorized.code ? DisconnectCode.InvalidToken : DisconnectCode.Forbidden;
}

/** `expires` for a reply: absent for an identity that never expires (a feature's, without expiry). */
function expiresField(identity: Identity): { expires?: number } {
  return Number.isFinite(identity.expires) ? { expires: identity.expires } : {};
}

export const connectCommand = kernelCommand({
  method: 'connect',
  beforeConnect: true,
  params: z.strictObject({
    token: z.string().max(65536).optional(),
    name: z.string().max(64).optional(),
    version: z.string().max(64).optional(),
    /** Positions of server-side subscriptions to restore, with recovery (each checked like `subscribe`). */
    subs: z
      .record(z.string().max(1024), positionParam)
      .refine((r) => Object.keys(r).length <= 1024, 'at most 1024 channels')
      .optional(),
  }),
  async handler({ client, node }, params) {
    if (client.state === 'connected') throw new ReplyError(ErrorCode.AlreadyConnected);
    if (node.draining) {
      client.closeAfterReply(DisconnectCode.Shutdown);
      throw new ReplyError(ErrorCode.Unavailable, 'shutting down');
    }
    let identity: Identity;
    try {
      identity = await authenticate(client, node, params.token);
    } catch (err) {
      if (err instanceof ReplyError) {
        client.closeAfterReply(refusalClose(err));
        throw err;
      }
      if (!(err instanceof TokenError)) throw err;
      reportTokenFailure(client, node, err, params.token, 'connect');
      if (err.failure === 'expired') {
        client.closeAfterReply(DisconnectCode.Expired);
        throw new ReplyError(ErrorCode.TokenExpired);
      }
      client.closeAfterReply(DisconnectCode.InvalidToken);
      throw new ReplyError(ErrorCode.Unauthorized, err.message);
    }
    if (client.closed) throw new ReplyError(ErrorCode.Unauthorized, 'closed');
    const slot = await node.acquireConnection(identity.tenant, identity.user);
    if (slot !== 'ok') {
      if (node.security.active)
        node.security.report({ type: 'limit.connections', tenant: identity.tenant, user: identity.user, ip: client.meta.ip, scope: slot });
      client.closeAfterReply(DisconnectCode.ConnectionLimit);
      throw new ReplyError(ErrorCode.LimitExceeded, slot === 'user' ? 'connections per user' : 'connections per tenant');
    }
    client.holdSlot(identity);
    if (client.closed) {
      // Closed while we waited: the close already ran cleanup before the slot was ours.
      client.dropSlot();
      await node.engine.limits.releaseConnection(identity.tenant, identity.user);
      throw new ReplyError(ErrorCode.Unauthorized, 'closed');
    }
    try {
      await node.runHook('onConnect', { client, identity });
    } catch (err) {
      client.closeAfterReply(DisconnectCode.Forbidden);
      throw err;
    }
    client.markConnected(identity);
    node.registerUser(client);
    const subs = new Map<string, { offset: number; epoch: string } | undefined>((identity.subs ?? []).map((c) => [c, params.subs?.[c]]));
    for (const [channel, position] of Object.entries(params.subs ?? {})) subs.set(channel, position);
    if (subs.size > 0)
      client.afterReply(() => {
        void (async () => {
          for (const [channel, position] of subs) if (!client.closed) await serverSubscribe(client, node, channel, position);
        })();
      });
    return {
      client: client.id,
      user: identity.user,
      tenant: identity.tenant,
      protocol: PROTOCOL_VERSION,
      ...expiresField(identity),
      ping: node.config.timeouts.ping,
      pong: node.config.timeouts.pong,
      node: node.id,
    };
  },
});

export const refreshCommand = kernelCommand({
  method: 'refresh',
  params: z.strictObject({ token: z.string().max(65536) }),
  async handler({ client, node }, params) {
    const current = client.identity as Identity;
    let identity: Identity;
    try {
      identity = await node.verifyToken(params.token);
    } catch (err) {
      if (err instanceof TokenError) reportTokenFailure(client, node, err, params.token, 'refresh');
      if (err instanceof TokenError && err.failure === 'expired') throw new ReplyError(ErrorCode.TokenExpired);
      if (err instanceof TokenError) throw new ReplyError(ErrorCode.Unauthorized, err.message);
      throw err;
    }
    if (identity.user !== current.user || identity.tenant !== current.tenant) {
      client.closeAfterReply(DisconnectCode.InvalidToken);
      throw new ReplyError(ErrorCode.Unauthorized, 'token is for another user');
    }
    // Capabilities may have shrunk: subscriptions the new token no longer allows end.
    replaceIdentity(node, client, identity);
    return expiresField(identity);
  },
});

export const pingCommand = kernelCommand({
  method: 'ping',
  params: z.strictObject({}),
  async handler() {
    return {};
  },
});
