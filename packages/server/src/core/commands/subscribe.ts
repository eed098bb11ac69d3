import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import type { HistoryPage } from '../../engine/broker.js';
import { ReplyError } from '../../errors/reply-error.js';
import { publicationJson, RawJson } from '../encode.js';
import { kernelCommand } from '../kernel-context.js';
import { can } from '../permissions.js';
import { Subscription } from '../subscription.js';
import { channelParam, positionParam } from './schemas.js';

/**
 * Whether a page read after `since` holds every publication missed since then:
 * same epoch, nothing expired between, and not more than the recovery cap.
 */
export function isRecovered(page: HistoryPage, since: { offset: number; epoch: string }, maxRecovery: number): boolean {
  if (page.epoch !== since.epoch || since.offset > page.offset) return false;
  const missed = page.offset - since.offset;
  if (missed === 0) return true;
  if (missed > maxRecovery || since.offset + 1 < page.firstOffset) return false;
  return page.publications.length === missed && page.publications[0]?.offset === since.offset + 1;
}

export const subscribeCommand = kernelCommand({
  method: 'subscribe',
  params: z.strictObject({ channel: channelParam, recover: positionParam.optional() }),
  async handler({ client, node }, params) {
    const identity = client.identity as Identity;
    const ch = node.resolve(identity.tenant, params.channel);
    if (!can(identity, ch, 'subscribe')) throw new ReplyError(ErrorCode.PermissionDenied);
    if (client.isSubscribed(ch.key)) throw new ReplyError(ErrorCode.AlreadySubscribed);
    if (client.subscriptionCount >= node.config.limits.maxChannelsPerConnection) throw new ReplyError(ErrorCode.LimitExceeded, 'channels per connection');
    const info = (await node.runHook('beforeSubscribe', { client, channel: ch }))?.info;
    if (client.closed) throw new ReplyError(ErrorCode.Unauthorized, 'closed');

    const sub = new Subscription(ch);
    client.addSubscription(sub);
    const ns = ch.options;
    const recoverable = ns.recovery && ns.historySize > 0;
    const maxRecovery = node.config.limits.maxRecovery;
    let page: HistoryPage;
    try {
      await node.joinHub(ch.key, client);
      const wantRecovery = params.recover !== undefined && recoverable;
      page = await node.history(ch, wantRecovery ? { since: params.recover, limit: maxRecovery + 1 } : { limit: 0 });
    } catch (err) {
      node.removeSubscription(client, ch.key);
      throw err instanceof ReplyError ? err : new ReplyError(ErrorCode.Unavailable, 'subscribe');
    }
    if (client.closed || client.subscription(ch.key) !== sub) throw new ReplyError(ErrorCode.NotSubscribed, 'unsubscribed meanwhile');

    let recovered: boolean | undefined;
    let pubs = '';
    if (params.recover !== undefined) {
      recovered = recoverable && isRecovered(page, params.recover, maxRecovery);
      if (recovered) pubs = page.publications.map(publicationJson).join(',');
    }
    sub.startAt(page);
    // The reply goes out before the publications that arrived while we read history.
    const outcome = recovered ?? null;
    client.afterReply(() => {
      client.releasePending(sub);
      node.announceSubscription(client, sub, outcome);
    });
    const infoField = info === undefined ? '' : `,"info":${JSON.stringify(info)}`;
    const head = `{"epoch":${JSON.stringify(page.epoch)},"offset":${page.offset},"recoverable":${recoverable}${infoField}`;
    return new RawJson(recovered === undefined ? `${head}}` : `${head},"recovered":${recovered},"publications":[${pubs}]}`);
  },
});

export const unsubscribeCommand = kernelCommand({
  method: 'unsubscribe',
  params: z.strictObject({ channel: channelParam }),
  async handler({ client, node }, params) {
    const identity = client.identity as Identity;
    const ch = node.resolve(identity.tenant, params.channel);
    if (!client.isSubscribed(ch.key)) throw new ReplyError(ErrorCode.NotSubscribed);
    node.removeSubscription(client, ch.key, 'client');
    return {};
  },
});
