import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import type { HistoryPage } from '../../engine/broker.js';
import { ReplyError } from '../../errors/reply-error.js';
import { latestPerKey } from '../conflation.js';
import { publicationJson, RawJson } from '../encode.js';
import { type KernelNode, type KernelSession, kernelCommand } from '../kernel-context.js';
import { can } from '../permissions.js';
import { Subscription } from '../subscription.js';
import { compileFilter } from '../tag-filter.js';
import { reportForbidden, resolveForClient } from './access.js';
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

/** A subscription opened and positioned, with what its reply or push says. */
interface Opened {
  sub: Subscription;
  /** The result JSON: epoch, offset, recoverable, and recovered / publications when asked. */
  json: string;
  recovered: boolean | null;
}

/**
 * Open a subscription of `client` to `channel`, for the `subscribe` command and for
 * server-side subscriptions alike: the permission and namespace rules, the filter, the
 * channel limit and `beforeSubscribe`, then the stream position (and the missed
 * publications that pass the filter when `recover` is given). Publications that arrive
 * meanwhile are held until `release`.
 */
export async function openSubscription(
  client: KernelSession,
  node: KernelNode,
  channel: string,
  recover: { offset: number; epoch: string } | undefined,
  filterParam?: unknown,
  deltaParam?: 'fossil',
  wanted?: readonly string[],
): Promise<Opened> {
  const identity = client.identity as Identity;
  const ch = resolveForClient(client, node, channel, 'subscribe');
  if (!can(identity, ch, 'subscribe')) {
    reportForbidden(client, node, channel, 'subscribe', 'permission');
    throw new ReplyError(ErrorCode.PermissionDenied);
  }
  const filter = filterParam === undefined ? null : compileFilter(ch, filterParam, node.config.limits);
  if (client.isSubscribed(ch.key)) throw new ReplyError(ErrorCode.AlreadySubscribed);
  if (client.subscriptionCount >= node.config.limits.maxChannelsPerConnection) throw new ReplyError(ErrorCode.LimitExceeded, 'channels per connection');
  const info = (await node.runHook('beforeSubscribe', { client, channel: ch }))?.info;
  if (client.closed) throw new ReplyError(ErrorCode.Unauthorized, 'closed');

  // Negotiated: where the namespace has deltas off, the reply does not say `delta` and data comes as usual.
  const delta = deltaParam === 'fossil' && ch.options.delta;
  const sub = new Subscription(ch, filter, delta);
  client.addSubscription(sub);
  const ns = ch.options;
  const recoverable = ns.recovery && ns.historySize > 0;
  const maxRecovery = node.config.limits.maxRecovery;
  let page: HistoryPage;
  let state: Record<string, unknown> | undefined;
  try {
    await node.joinHub(ch, client);
    const wantRecovery = recover !== undefined && recoverable;
    page = await node.history(ch, wantRecovery ? { since: recover, limit: maxRecovery + 1 } : { limit: 0 });
    // After the join: a change made while the features read reaches the client as a push too.
    if (wanted !== undefined && wanted.length > 0) state = await node.subscribeSnapshots(client, ch, wanted);
  } catch (err) {
    node.removeSubscription(client, ch.key);
    throw err instanceof ReplyError ? err : new ReplyError(ErrorCode.Unavailable, 'subscribe');
  }
  if (client.closed || client.subscription(ch.key) !== sub) throw new ReplyError(ErrorCode.NotSubscribed, 'unsubscribed meanwhile');

  let recovered: boolean | undefined;
  let pubs = '';
  if (recover !== undefined) {
    recovered = recoverable && isRecovered(page, recover, maxRecovery);
    // Offsets the filter (or conflation: the latest per key only) passes over are covered by the reply's offset: recovery stays exact.
    if (recovered) {
      const missed = ns.conflation ? latestPerKey(page.publications, ns.conflation.key.split('.')) : page.publications;
      pubs = missed.flatMap((p) => (sub.matches(p.tags) ? [publicationJson(p)] : [])).join(',');
    }
  }
  sub.startAt(page);
  const infoField = info === undefined ? '' : `,"info":${JSON.stringify(info)}`;
  const stateField = state === undefined ? '' : `,"state":${JSON.stringify(state)}`;
  const head = `"epoch":${JSON.stringify(page.epoch)},"offset":${page.offset},"recoverable":${recoverable}${infoField}${stateField}${delta ? ',"delta":true' : ''}${ns.conflation ? ',"conflated":true' : ''}`;
  const json = recovered === undefined ? head : `${head},"recovered":${recovered},"publications":[${pubs}]`;
  return { sub, json, recovered: recovered ?? null };
}

export const subscribeCommand = kernelCommand({
  method: 'subscribe',
  params: z.strictObject({
    channel: channelParam,
    recover: positionParam.optional(),
    filter: z.unknown().optional(),
    delta: z.literal('fossil').optional(),
    state: z.array(z.string().min(1).max(64)).max(16).optional(),
  }),
  async handler({ client, node }, params) {
    const { sub, json, recovered } = await openSubscription(client, node, params.channel, params.recover, params.filter, params.delta, params.state);
    // The reply goes out before the publications that arrived while we read history.
    client.afterReply(() => {
      client.releasePending(sub);
      node.announceSubscription(client, sub, recovered);
    });
    return new RawJson(`{${json}}`);
  },
});

/**
 * Subscribe a connection from the server's side (the token's `subs`, or the HTTP API):
 * the client gets a `subscribe` push with the position — and with the missed publications
 * when `recover` is given — instead of a reply, then the channel's publications. A refusal
 * is pushed as `{"push":"subscribe","channel","error"}`; it never closes the connection.
 */
export async function serverSubscribe(client: KernelSession, node: KernelNode, channel: string, recover?: { offset: number; epoch: string }): Promise<boolean> {
  try {
    const { sub, json, recovered } = await openSubscription(client, node, channel, recover);
    client.enqueue(Buffer.from(`{"push":"subscribe","channel":${JSON.stringify(sub.ch.channel)},${json}}`));
    client.releasePending(sub);
    node.announceSubscription(client, sub, recovered);
    return true;
  } catch (err) {
    if (client.closed) return false;
    const error = err instanceof ReplyError ? err : new ReplyError(ErrorCode.Internal);
    // Already subscribed (by the client, or an earlier server-side subscribe): nothing to tell.
    if (error.code !== ErrorCode.AlreadySubscribed.code)
      client.enqueue(Buffer.from(`{"push":"subscribe","channel":${JSON.stringify(channel)},"error":${JSON.stringify(error.toWire())}}`));
    return false;
  }
}

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
