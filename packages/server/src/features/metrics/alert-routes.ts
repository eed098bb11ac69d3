import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { NodeContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import { INITIAL_ALERT_STATE } from './alert-machine.js';
import type { AlertRuleStore } from './alert-rule-store.js';
import { ALERT_RESOLUTIONS, ALERT_STATS, type AlertRule, alertRule, alertRuleProblems } from './alert-rules.js';
import type { AlertStore } from './alert-store.js';
import type { MetricsConfig, SeriesDeclaration } from './config.js';
import { isSystemSeries } from './system-series.js';

const level = z.enum(['ok', 'warning', 'critical', 'resolved']);

const ruleHealth = z.object({
  name: z.string(),
  series: z.string(),
  labels: z.record(z.string(), z.string()),
  stat: z.enum(ALERT_STATS),
  resolution: z.enum(ALERT_RESOLUTIONS),
  direction: z.enum(['above', 'below']),
  warning: z.number().nullable(),
  critical: z.number().nullable(),
  source: z.enum(['config', 'tenant']).describe('declared in the configuration (every tenant has it) or by this tenant over HTTP'),
  state: level,
  value: z.number().nullable().describe('the statistic of the latest bucket evaluated (null: none yet, or a bucket without points)'),
  since: z.number().int().nullable().describe('when the rule entered its state, ms since the epoch (null: never left ok)'),
  evaluatedAt: z.number().int().nullable().describe('the end of the latest bucket evaluated, ms since the epoch'),
});

const health = z.object({
  state: z.enum(['ok', 'warning', 'critical']).describe('the worst state of any rule (resolved counts as ok)'),
  summary: z.object({ ok: z.number().int(), warning: z.number().int(), critical: z.number().int() }),
  rules: z.array(ruleHealth),
});

const ruleBody = alertRule.omit({ name: true, tenant: true });
const ruleName = z.strictObject({ name: alertRule.shape.name });
const ruleOut = z.object({
  name: z.string(),
  source: z.enum(['config', 'tenant']),
  series: z.string(),
  labels: z.record(z.string(), z.string()),
  stat: z.enum(ALERT_STATS),
  resolution: z.enum(ALERT_RESOLUTIONS),
  warning: z.number().optional(),
  critical: z.number().optional(),
  direction: z.enum(['above', 'below']),
  for: z.number().int().describe('ms'),
  hysteresis: z.number(),
  scope: z.string(),
  notify: z.object({ users: z.array(z.string()), roles: z.array(z.string()) }),
});

export interface AlertRouteDeps {
  config: MetricsConfig;
  states: () => AlertStore;
  rules: () => AlertRuleStore;
  /** A series the tenant declared over HTTP (the configuration's are in `config`). */
  declared?: (tenant: string, series: string) => SeriesDeclaration | undefined;
}

/** The rules a tenant has: the config's, then its own (an own rule named like a config rule is shadowed). */
async function rulesOf(deps: AlertRouteDeps, tenant: string): Promise<Array<AlertRule & { source: 'config' | 'tenant' }>> {
  // Rules over the server's own figures belong to the system scope, not to a tenant's health or list.
  const configured = deps.config.alerts.filter((r) => !isSystemSeries(r.series)).map((r) => ({ ...r, source: 'config' as const }));
  const names = new Set(configured.map((r) => r.name));
  const own = (await deps.rules().list(tenant)).filter((r) => !names.has(r.name)).map((r) => ({ ...r, source: 'tenant' as const }));
  return [...configured, ...own];
}

/** The reply error of a rule the cross-checks refuse: the series and label codes, else 161. */
function refusal(config: MetricsConfig, rule: AlertRule, own: SeriesDeclaration | undefined): ReplyError | null {
  if (isSystemSeries(rule.series)) return new ReplyError(ErrorCode.UnknownSeries, `no series ${rule.series}`);
  const series = own && !config.series[rule.series] ? { ...config.series, [rule.series]: own } : config.series;
  const [problem] = alertRuleProblems({ series, alerts: [rule], alertRoles: config.alertRoles });
  if (!problem) return null;
  const field = problem.path[2];
  const code = field === 'series' ? ErrorCode.UnknownSeries : field === 'labels' ? ErrorCode.UnknownLabel : ErrorCode.InvalidAlertRule;
  return new ReplyError(code, problem.message);
}

/** The activity scope of a rule must be a channel of a declared namespace other than `activity` (as the feed requires). */
function checkScope(node: NodeContext, tenant: string, scope: string): void {
  let ch: ReturnType<NodeContext['resolve']>;
  try {
    ch = node.resolve(tenant, scope);
  } catch {
    throw new ReplyError(ErrorCode.InvalidAlertRule, `scope ${scope} is not a channel of a declared namespace`);
  }
  if (ch.namespace === 'activity') throw new ReplyError(ErrorCode.InvalidAlertRule, 'the scope cannot be in the "activity" namespace');
}

/**
 * `GET /metrics/health`: the tenant's alert rules with their state, and the sum of them;
 * `GET /metrics/alerts`, `PUT|DELETE /metrics/alerts/{name}`: the rules a tenant declares itself.
 */
export function alertRoutes(deps: AlertRouteDeps): ApiRoute[] {
  const { config } = deps;
  return [
    defineRoute({
      method: 'GET',
      url: '/metrics/health',
      operationId: 'metricsHealth',
      tag: 'metrics',
      summary: "The tenant's alert rules with their states, and how many are ok, warning or critical",
      description:
        'Every rule of `metrics.alerts` and of the tenant as the tenant sees it: its state (`ok`, `warning`, `critical`, `resolved`), the value of the latest bucket evaluated, since when it is in that state; `state` is the worst of them (`resolved` counts as `ok`).',
      response: health,
      errors: [503],
      async handler({ tenant }) {
        const rules = await rulesOf(deps, tenant);
        const stored = await deps.states().list(tenant);
        const summary = { ok: 0, warning: 0, critical: 0 };
        const out = rules.map((rule) => {
          const s = stored.get(rule.name)?.state ?? INITIAL_ALERT_STATE;
          summary[s.state === 'resolved' ? 'ok' : s.state]++;
          return {
            name: rule.name,
            source: rule.source,
            series: rule.series,
            labels: rule.labels,
            stat: rule.stat,
            resolution: rule.resolution,
            direction: rule.direction,
            warning: rule.warning ?? null,
            critical: rule.critical ?? null,
            state: s.state,
            value: s.value,
            since: s.since,
            evaluatedAt: s.evaluatedAt,
          };
        });
        const state: 'ok' | 'warning' | 'critical' = summary.critical > 0 ? 'critical' : summary.warning > 0 ? 'warning' : 'ok';
        return { state, summary, rules: out };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/metrics/alerts',
      operationId: 'listAlertRules',
      tag: 'metrics',
      summary: "The tenant's alert rules: those of the configuration and its own",
      response: z.object({ rules: z.array(ruleOut) }),
      errors: [503],
      async handler({ tenant }) {
        return { rules: await rulesOf(deps, tenant) };
      },
    }),
    defineRoute({
      method: 'PUT',
      url: '/metrics/alerts/:name',
      operationId: 'putAlertRule',
      tag: 'metrics',
      summary: 'Declare or replace an alert rule of the tenant',
      description: `The rule as in \`metrics.alerts\` (docs/metrics.md), without its name; it watches this tenant only. 422 / 139 or 140 for a series or label key not declared, 422 / 161 for an inconsistent rule, a scope that is not a channel of a declared namespace, or the name of a config rule, 422 / 162 beyond ${config.maxAlertRules} rules of the tenant. Replacing a rule keeps its state.`,
      params: ruleName,
      body: ruleBody,
      response: z.object({ rule: ruleOut, created: z.boolean() }),
      errors: [422, 503],
      async handler({ node, tenant, params, body }) {
        const rule: AlertRule = { ...body, name: params.name };
        checkScope(node, tenant, rule.scope);
        if (config.alerts.some((r) => r.name === rule.name))
          throw new ReplyError(ErrorCode.InvalidAlertRule, `rule ${rule.name}: a rule of the configuration has this name`);
        const refused = refusal(config, rule, deps.declared?.(tenant, rule.series));
        if (refused) throw refused;
        const store = deps.rules();
        const exists = (await store.list(tenant)).some((r) => r.name === rule.name);
        if (!exists && (await store.count(tenant)) >= config.maxAlertRules)
          throw new ReplyError(ErrorCode.AlertRuleLimit, `the tenant has ${config.maxAlertRules} alert rules`);
        const created = await store.put(tenant, rule);
        return { rule: { ...rule, source: 'tenant' as const }, created };
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/metrics/alerts/:name',
      operationId: 'deleteAlertRule',
      tag: 'metrics',
      summary: 'Remove an alert rule of the tenant, with its state',
      description: '404 for a name the tenant has no rule of (the rules of the configuration cannot be removed here).',
      params: ruleName,
      response: z.object({ deleted: z.boolean() }),
      errors: [404, 503],
      async handler({ tenant, params }) {
        if (!(await deps.rules().delete(tenant, params.name))) throw new ReplyError(ErrorCode.NotFound, `no alert rule ${params.name} of the tenant`);
        return { deleted: true };
      },
    }),
  ];
}
