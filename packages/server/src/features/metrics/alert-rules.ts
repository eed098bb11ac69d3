import { TENANT_RE } from '@switchboard/protocol';
import { z } from 'zod';
import { duration } from '../../config/fields.js';
import { isSystemSeries, SYSTEM_SERIES } from './system-series.js';

/**
 * Alert rules as the config declares them (`metrics.alerts`), and the checks that need the
 * whole `metrics` section (the series a rule names must be declared, with the labels it uses).
 * See docs/metrics.md "Alerts and health".
 */

export const ALERT_STATS = ['avg', 'p50', 'p95', 'p99', 'max', 'min', 'count', 'sum', 'last', 'rate'] as const;
export type AlertStat = (typeof ALERT_STATS)[number];
export const ALERT_RESOLUTIONS = ['1s', '10s', '1m'] as const;
/** The activity scope of a rule that names none: the kernel's `system` namespace. */
export const DEFAULT_ALERT_SCOPE = 'system:alerts';

const finite = z.number().refine(Number.isFinite, 'expected a finite number');

export const alertRule = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'expected a rule name of A-Z a-z 0-9 _ . : - (1 to 64 characters)'),
  series: z.string().describe('a declared series'),
  labels: z.record(z.string(), z.string()).default({}).describe('the label set watched, exactly (default: no labels)'),
  stat: z.enum(ALERT_STATS),
  resolution: z.enum(ALERT_RESOLUTIONS).default('1s'),
  warning: finite.optional(),
  critical: finite.optional(),
  direction: z.enum(['above', 'below']).default('above'),
  for: duration('0', 'how long every bucket must breach a threshold before its level is reached'),
  hysteresis: z.number().min(0).refine(Number.isFinite, 'expected a finite number').default(0),
  scope: z.string().min(1).default(DEFAULT_ALERT_SCOPE).describe('the activity scope transitions are recorded in'),
  tenant: z
    .string()
    .regex(TENANT_RE)
    .optional()
    .describe("for a rule over a system series (the server's own figures, sb.*): the tenant whose activity feed and users receive its transitions"),
  notify: z
    .strictObject({
      users: z.array(z.string().min(1)).default([]),
      roles: z.array(z.string().min(1)).default([]),
    })
    .default({ users: [], roles: [] }),
});
export type AlertRule = z.output<typeof alertRule>;

/** The fields a `when` string gives. */
const WHEN_FIELDS = ['series', 'labels', 'stat', 'direction', 'warning', 'for'] as const;
const WHEN = /^\s*([a-z0-9]+)\(\s*([A-Za-z0-9_.:-]+)\s*(?:\{([^}]*)\})?\s*\)\s*([<>])\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(?:for\s+(\S+))?\s*$/;
const LABEL = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:"([^"]*)"|([^",]*?))\s*$/;

/**
 * A rule's condition in one string, `p95(api.latency_ms{route="/login"}) > 200 for 30s`:
 * statistic, series, labels (`key=value` or `key="value"`, comma separated), `>` (above) or
 * `<` (below), the warning threshold and, optionally, the duration. Null when it does not parse.
 */
export function parseWhen(text: string): Record<(typeof WHEN_FIELDS)[number], unknown> | null {
  const m = WHEN.exec(text);
  if (!m) return null;
  const [, stat, series, labelText, op, threshold, duration] = m;
  const labels: Record<string, string> = {};
  for (const pair of labelText?.trim() ? labelText.split(',') : []) {
    const l = LABEL.exec(pair);
    if (!l) return null;
    labels[l[1] as string] = l[2] ?? l[3] ?? '';
  }
  return { series, labels, stat, direction: op === '>' ? 'above' : 'below', warning: Number(threshold), for: duration ?? 0 };
}

/** A rule of the config may give its condition as `when` (see parseWhen) instead of its fields. */
export const alertRuleOrWhen = z.preprocess((input, ctx) => {
  if (typeof input !== 'object' || input === null || !('when' in input)) return input;
  const { when, ...rest } = input as Record<string, unknown>;
  const parsed = typeof when === 'string' ? parseWhen(when) : null;
  if (!parsed) {
    ctx.addIssue({
      code: 'custom',
      path: ['when'],
      message: `expected a condition like "p95(api.latency_ms{route=/login}) > 200 for 30s", got ${JSON.stringify(when)}`,
    });
    return rest;
  }
  const both = WHEN_FIELDS.filter((f) => f in rest);
  if (both.length > 0) ctx.addIssue({ code: 'custom', path: ['when'], message: `give either when or ${both.join(', ')}, not both` });
  return { ...rest, ...parsed };
}, alertRule);

/** What the cross-checks read of the metrics section. */
interface Section {
  series: Readonly<Record<string, { kind: string; labels: readonly string[] }>>;
  alerts: readonly AlertRule[];
  alertRoles: Readonly<Record<string, readonly string[]>>;
}

/** Every problem of the rules that a rule alone cannot show, with its path under `metrics`. */
export function alertRuleProblems(section: Section): Array<{ path: Array<string | number>; message: string }> {
  const out: Array<{ path: Array<string | number>; message: string }> = [];
  const names = new Set<string>();
  section.alerts.forEach((rule, i) => {
    const at = (field: string, message: string) => out.push({ path: ['alerts', i, field], message: `rule ${rule.name}: ${message}` });
    if (names.has(rule.name)) at('name', 'another rule has this name');
    names.add(rule.name);
    const system = isSystemSeries(rule.series);
    const series = system ? SYSTEM_SERIES[rule.series] : section.series[rule.series];
    if (!series) at('series', `no series ${rule.series} is declared in metrics.series`);
    if (system && rule.tenant === undefined) at('tenant', `${rule.series} is a series of the server's own: name the tenant that receives the transitions`);
    if (!system && rule.tenant !== undefined) at('tenant', "only a rule over a series of the server's own (sb.*) names a tenant");
    for (const key of Object.keys(rule.labels)) if (series && !series.labels.includes(key)) at('labels', `label ${key} is not declared for ${rule.series}`);
    if (series && rule.stat === 'rate' && series.kind !== 'counter') at('stat', `rate is a statistic of counters; ${rule.series} is a ${series.kind}`);
    if (rule.warning === undefined && rule.critical === undefined) at('warning', 'give a warning or a critical threshold (or both)');
    if (rule.warning !== undefined && rule.critical !== undefined) {
      const ordered = rule.direction === 'above' ? rule.warning < rule.critical : rule.warning > rule.critical;
      if (!ordered) at('critical', `critical must be ${rule.direction === 'above' ? 'above' : 'below'} warning for a rule ${rule.direction} its thresholds`);
    }
    for (const role of rule.notify.roles) if (!section.alertRoles[role] && role !== 'everyone') at('notify', `no role ${role} in metrics.alertRoles`);
  });
  return out;
}

/** The users a rule notifies: its users and the members of its roles, once each; `everyone` for the role `everyone`. */
export function recipientsOf(rule: AlertRule, roles: Readonly<Record<string, readonly string[]>>): string[] | 'everyone' {
  if (rule.notify.roles.includes('everyone')) return 'everyone';
  return [...new Set([...rule.notify.users, ...rule.notify.roles.flatMap((r) => roles[r] ?? [])])];
}
