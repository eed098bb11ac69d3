import { DisconnectCode, ErrorCode, PROTOCOL_VERSION } from '@switchboard/protocol';
import { z } from 'zod';
import { type Identity, TokenError } from '../../auth/token-verifier.js';
import { ReplyError } from '../../errors/reply-error.js';
import { kernelCommand } from '../kernel-context.js';
import { can } from '../permissions.js';
import { positionParam } from './schemas.js';
import { serverSubscribe } from './subscribe.js';

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
      identity = await node.verifyToken(params.token);
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
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
      expires: identity.expires,
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
      if (err instanceof TokenError && err.failure === 'expired') throw new ReplyError(ErrorCode.TokenExpired);
      if (err instanceof TokenError) throw new ReplyError(ErrorCode.Unauthorized, err.message);
      throw err;
    }
    if (identity.user !== current.user || identity.tenant !== current.tenant) {
      client.closeAfterReply(DisconnectCode.InvalidToken);
      throw new ReplyError(ErrorCode.Unauthorized, 'token is for another user');
    }
    client.refreshIdentity(identity);
    // Capabilities may have shrunk: drop subscriptions the new token no longer allows.
    for (const sub of [...client.subscriptions()]) {
      if (can(identity, sub.ch, 'subscribe')) continue;
      node.removeSubscription(client, sub.ch.key);
      const info = DisconnectCode.Forbidden;
      client.enqueue(Buffer.from(JSON.stringify({ push: 'unsubscribe', channel: sub.ch.channel, code: info.code, reason: 'permission revoked' })));
    }
    return { expires: identity.expires };
  },
});

export const pingCommand = kernelCommand({
  method: 'ping',
  params: z.strictObject({}),
  async handler() {
    return {};
  },
});
