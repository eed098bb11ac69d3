import { z } from 'zod';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import { INITIAL_ALERT_STATE } from './alert-machine.js';
import { ALERT_RESOLUTIONS, ALERT_STATS, type AlertRule } from './alert-rules.js';
import type { AlertStore } from './alert-store.js';

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

/** `GET /metrics/health`: the tenant's alert rules with their state, and the sum of them. */
export function alertRoutes(rules: readonly AlertRule[], store: () => AlertStore): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/metrics/health',
      operationId: 'metricsHealth',
      tag: 'metrics',
      summary: "The tenant's alert rules with their states, and how many are ok, warning or critical",
      description:
        'Every rule of `metrics.alerts` as the tenant sees it: its state (`ok`, `warning`, `critical`, `resolved`), the value of the latest bucket evaluated, since when it is in that state; `state` is the worst of them (`resolved` counts as `ok`).',
      response: health,
      errors: [503],
      async handler({ tenant }) {
        const stored = await store().list(tenant);
        const summary = { ok: 0, warning: 0, critical: 0 };
        const out = rules.map((rule) => {
          const s = stored.get(rule.name)?.state ?? INITIAL_ALERT_STATE;
          summary[s.state === 'resolved' ? 'ok' : s.state]++;
          return {
            name: rule.name,
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
  ];
}
