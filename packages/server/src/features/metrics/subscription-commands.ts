import { ErrorCode, type MetricStat, type MetricSubscribeResult } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import { parseDuration } from '../../config/duration.js';
import { type CommandDefinition, defineCommand } from '../../core/command.js';
import type { NodeContext } from '../../core/context.js';
import { can } from '../../core/permissions.js';
import { ReplyError } from '../../errors/reply-error.js';
import { STATS, type Stat } from './buckets.js';
import { type MetricsConfig, RESOLUTIONS, type ResolutionName } from './config.js';
import type { MetricStores } from './metric-stores.js';
import type { MetricSubscriptions, SubscriptionSpec } from './subscriptions.js';
import type { SystemGrants } from './system-grants.js';
import { SYSTEM_SCOPE } from './system-series.js';

/** The namespace whose channel `metrics:<series>` a token needs `subscribe` on to read a series. */
export const METRICS_NAMESPACE = 'metrics';
/** Series one subscription may name. */
const MAX_SERIES = 32;

const subscribeParams = z.strictObject({
  series: z.union([z.string(), z.array(z.string()).min(1).max(MAX_SERIES)]),
  labels: z.record(z.string(), z.string()).optional(),
  resolution: z.string().optional(),
  window: z.union([z.string(), z.number()]).optional(),
  stats: z.array(z.string()).min(1).max(STATS.length).optional(),
  maxRate: z.number().optional(),
  scope: z.literal('system').optional(),
  grant: z.string().max(256).optional(),
});
export type SubscribeParams = z.output<typeof subscribeParams>;

/** The rate in effect for an asked `maxRate`: the ceiling by default; 0 or less is 1 frame/s, above the ceiling the ceiling, both said so. */
export function effectiveRate(asked: number | undefined, ceiling: number): Pick<MetricSubscribeResult, 'rate' | 'rateClamped'> {
  if (asked === undefined) return { rate: ceiling };
  if (!(asked > 0)) return { rate: Math.min(1, ceiling), rateClamped: { requested: Number.isFinite(asked) ? asked : null, reason: 'not-positive' } };
  if (asked > ceiling) return { rate: ceiling, rateClamped: { requested: asked, reason: 'above-ceiling' } };
  return { rate: asked };
}

/** Checks a `metrics.subscribe` request of a connection's identity: the spec to open, or a typed error. */
export function subscriptionSpec(node: NodeContext, identity: Identity, stores: MetricStores, config: MetricsConfig, p: SubscribeParams): SubscriptionSpec {
  // The system scope was granted (the caller checked the grant): its series need no capability.
  const system = p.scope === 'system';
  const tenant = system ? SYSTEM_SCOPE : identity.tenant;
  const names = [...new Set(typeof p.series === 'string' ? [p.series] : p.series)];
  const labels = p.labels ?? {};
  const resolution = (p.resolution ?? '1s') as ResolutionName;
  if (!(resolution in RESOLUTIONS))
    throw new ReplyError(ErrorCode.UnknownResolution, `no resolution ${resolution}; one of ${Object.keys(RESOLUTIONS).join(', ')}`);
  const columns = (p.stats ?? null) as Stat[] | null;
  for (const s of columns ?? []) if (!STATS.includes(s)) throw new ReplyError(ErrorCode.BadRequest, `no statistic ${s}; one of ${STATS.join(', ')}`);
  const series: SubscriptionSpec['reply']['series'] = [];
  let retention = Number.POSITIVE_INFINITY;
  let step = 0;
  for (const name of names) {
    const decl = stores.declaration(name, tenant);
    if (!decl) throw new ReplyError(ErrorCode.UnknownSeries, `no series ${name}`);
    if (!system) {
      const ch = node.resolve(tenant, `${METRICS_NAMESPACE}:${name}`);
      if (!can(identity, ch, 'subscribe')) throw new ReplyError(ErrorCode.PermissionDenied, `needs the subscribe permission on ${ch.channel}`);
    }
    const undeclared = Object.keys(labels).find((k) => !decl.labels.includes(k));
    if (undeclared !== undefined) throw new ReplyError(ErrorCode.UnknownLabel, `label ${undeclared} is not declared for ${name}`);
    if (columns?.includes('rate') && decl.kind !== 'counter') throw new ReplyError(ErrorCode.BadRequest, `no statistic rate for a ${decl.kind}`);
    retention = Math.min(retention, stores.retention(name, resolution, tenant) as number);
    step = stores.step(name, resolution, tenant) as number;
    series.push({ series: name, labels: { ...labels }, kind: decl.kind, ...(decl.unit !== undefined ? { unit: decl.unit } : {}) });
  }
  const asked = p.window === undefined ? retention : parseDuration(p.window);
  if (asked === null || asked <= 0) throw new ReplyError(ErrorCode.BadRequest, 'window: expected a positive duration like "5m" or ms');
  const whole = Math.ceil(asked / step) * step;
  const window = Math.min(whole, retention);
  const allCounters = series.every((s) => s.kind === 'counter');
  const stats = (columns ?? STATS.filter((s) => s !== 'rate' || allCounters)) as MetricStat[];
  const rate = effectiveRate(p.maxRate, config.maxRate);
  return {
    tenant,
    labels,
    series: names,
    step,
    window,
    columns: stats,
    rate: rate.rate,
    reply: { resolution, step, window, truncated: whole > retention, ...rate, columns: stats, series },
  };
}

/** `metrics.subscribe` and `metrics.unsubscribe`, in the connection's own tenant. */
export function metricSubscriptionCommands(
  running: () => { stores: MetricStores; subscriptions: MetricSubscriptions; grants: SystemGrants },
  config: () => MetricsConfig,
): CommandDefinition[] {
  return [
    defineCommand({
      method: 'metrics.subscribe',
      params: subscribeParams,
      async handler({ client, node }, p) {
        const { stores, subscriptions, grants } = running();
        const cfg = config();
        if (p.scope === 'system') await grants.check(p.grant);
        else if (p.grant !== undefined) throw new ReplyError(ErrorCode.BadRequest, 'grant: only with scope "system"');
        const spec = subscriptionSpec(node, client.identity as Identity, stores, cfg, p);
        if (subscriptions.countOf(client.id) >= cfg.maxSubscriptions)
          throw new ReplyError(ErrorCode.LimitExceeded, `a connection holds at most ${cfg.maxSubscriptions} metric subscriptions`);
        const { reply, start } = subscriptions.open(client, spec);
        client.afterReply(start);
        return reply;
      },
    }),
    defineCommand({
      method: 'metrics.unsubscribe',
      params: z.strictObject({ id: z.string().min(1).max(64) }),
      async handler({ client }, p) {
        if (!running().subscriptions.close(client.id, p.id)) throw new ReplyError(ErrorCode.NotFound, `no metric subscription ${p.id}`);
        return {};
      },
    }),
  ];
}
