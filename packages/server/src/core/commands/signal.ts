import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import { ReplyError } from '../../errors/reply-error.js';
import { kernelCommand } from '../kernel-context.js';
import { authorize } from './access.js';
import { spendUserBudget } from './budget.js';
import { channelParam, jsonParam, toJsonText } from './schemas.js';

/** Ephemeral signals (typing, cursors): fanned out to the channel's other subscribers, never stored. */
export const signalCommand = kernelCommand({
  method: 'signal',
  params: z.strictObject({ channel: channelParam, key: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/), data: jsonParam.optional() }),
  async handler(ctx, params) {
    const { client, node } = ctx;
    const identity = client.identity as Identity;
    const ch = authorize(ctx, params.channel, 'signal', 'signals');
    if (!client.isSubscribed(ch.key)) throw new ReplyError(ErrorCode.NotSubscribed, 'subscribe before sending signals');
    const data = toJsonText(params.data);
    if (Buffer.byteLength(data) > node.config.limits.maxSignalBytes) throw new ReplyError(ErrorCode.PayloadTooLarge, 'signal');
    node.checkPayload(ch, 'signal', params.data ?? null);
    if (!client.signalBucket.take()) throw new ReplyError(ErrorCode.TooManyRequests, 'signal rate');
    await spendUserBudget(node.config, node.engine.limits, identity, 'signal');
    try {
      await node.engine.broker.publishEvent(ch.key, { kind: 'signal', from: { user: identity.user, client: client.id }, key: params.key, data });
    } catch {
      throw new ReplyError(ErrorCode.Unavailable, 'signal');
    }
    return {};
  },
});
