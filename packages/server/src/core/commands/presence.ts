import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import { ReplyError } from '../../errors/reply-error.js';
import { kernelCommand } from '../kernel-context.js';
import { authorize, authorizeRead } from './access.js';
import { spendUserBudget } from './budget.js';
import { channelParam, jsonParam, toJsonText } from './schemas.js';

export const presenceCommand = kernelCommand({
  method: 'presence',
  params: z.strictObject({ channel: channelParam }),
  async handler(ctx, params) {
    const ch = await authorizeRead(ctx, params.channel, 'subscribe', 'presence');
    return { members: await ctx.node.presence(ch) };
  },
});

export const presenceStatsCommand = kernelCommand({
  method: 'presence_stats',
  params: z.strictObject({ channel: channelParam }),
  async handler(ctx, params) {
    const ch = await authorizeRead(ctx, params.channel, 'subscribe', 'presence');
    return ctx.node.presenceStats(ch);
  },
});

export const presenceSetCommand = kernelCommand({
  method: 'presence_set',
  params: z.strictObject({ channel: channelParam, state: jsonParam.optional() }),
  async handler(ctx, params) {
    const { client, node } = ctx;
    const ch = authorize(ctx, params.channel, 'presence', 'presence');
    if (!client.isSubscribed(ch.key)) throw new ReplyError(ErrorCode.NotSubscribed, 'subscribe before entering presence');
    const state = params.state === undefined || params.state === null ? null : toJsonText(params.state);
    if (state !== null && Buffer.byteLength(state) > node.config.limits.maxPresenceStateBytes)
      throw new ReplyError(ErrorCode.PayloadTooLarge, 'presence state');
    if (state !== null) node.checkPayload(ch, 'presence', params.state);
    await spendUserBudget(node.config, node.engine.limits, client.identity as Identity, 'presence update');
    try {
      await node.setPresence(client, ch, state);
    } catch (err) {
      throw err instanceof ReplyError ? err : new ReplyError(ErrorCode.Unavailable, 'presence');
    }
    return {};
  },
});

export const presenceLeaveCommand = kernelCommand({
  method: 'presence_leave',
  params: z.strictObject({ channel: channelParam }),
  async handler({ client, node }, params) {
    const identity = client.identity as Identity;
    const ch = node.resolve(identity.tenant, params.channel);
    const sub = client.subscription(ch.key);
    if (!sub) throw new ReplyError(ErrorCode.NotSubscribed);
    if (sub.present) await node.leavePresence(client, ch);
    return {};
  },
});

export const statusCommand = kernelCommand({
  method: 'status',
  params: z.strictObject({ status: z.enum(['online', 'away']) }),
  async handler({ client, node }, params) {
    if (client.setManualStatus(params.status)) node.presenceStatusChanged(client);
    return {};
  },
});
