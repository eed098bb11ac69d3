import type { Logger } from 'pino';
import type { FeatureLeases } from '../scoped-engine.js';
import { type AlertSample, type AlertTransition, stepAlert } from './alert-machine.js';
import { type AlertRule, recipientsOf } from './alert-rules.js';
import type { AlertStore } from './alert-store.js';
import type { Stat } from './buckets.js';
import type { MetricStores } from './metric-stores.js';
import { SYSTEM_SCOPE } from './system-series.js';

/** What alerts need of the notifications feature's service (its Inbox). */
export interface AlertInbox {
  create(
    tenant: string,
    recipients: readonly string[] | 'everyone',
    input: {
      type: string;
      title: string;
      body?: string;
      data?: unknown;
      priority: 'low' | 'normal' | 'high' | 'critical';
      category?: string;
      resource?: string;
    },
    options?: { idempotencyKey?: string },
  ): Promise<unknown>;
}

/** What alerts need of the activity feature's service (its ActivityFeeds). */
export interface AlertFeed {
  record(
    tenant: string,
    input: { scope: string; actor: string; verb: string; object?: string; target?: string; data?: unknown; time?: number },
    idempotencyKey?: string,
  ): Promise<unknown>;
}

/** What alerts read of the metric stores: who holds a label set, and its buckets. */
export type AlertSource = Pick<MetricStores, 'holders' | 'read' | 'retention' | 'readable'>;

export interface AlertEvaluatorOptions {
  /** The rules of the config: every tenant's. */
  rules: readonly AlertRule[];
  /** The rules tenants declared over HTTP, by tenant (read at every evaluation). */
  tenantRules: () => Promise<ReadonlyMap<string, readonly AlertRule[]>>;
  roles: Readonly<Record<string, readonly string[]>>;
  source: AlertSource;
  store: AlertStore;
  leases: FeatureLeases;
  nodeId: string;
  inbox: AlertInbox;
  feed: AlertFeed;
  now: () => number;
  logger: Logger;
  /** How long a node keeps a (tenant, rule) after its last evaluation, ms. */
  leaseTtl: number;
}

const STEPS: Readonly<Record<string, number>> = { '1s': 1000, '10s': 10_000, '1m': 60_000 };
/** Stored steps (transitions and retries after a lost compare-and-set) one evaluation makes at most. */
const MAX_ROUNDS = 200;
const PRIORITY = { warning: 'normal', critical: 'critical', resolved: 'normal' } as const;

/**
 * Evaluates the alert rules of the tenants holding points of their series on this node, one
 * (tenant, rule) at a time per cluster: a node evaluates one only while it holds its lease
 * (`alert:{tenant}:{rule}`). An evaluation feeds every complete bucket since the stored
 * evaluation to the state machine (alert-machine.ts), stores each transition with a
 * compare-and-set (alert-store.ts), then writes its one activity entry and one notification of
 * type `performance`, both with an idempotency key of the transition, and marks it announced.
 */
export class AlertEvaluator {
  readonly #o: AlertEvaluatorOptions;
  readonly #held = new Map<string, number>();
  /** Per lease key held, the end of the newest complete bucket already evaluated: no storage read until a newer one completes. */
  readonly #upTo = new Map<string, number>();

  constructor(options: AlertEvaluatorOptions) {
    this.#o = options;
  }

  /** One pass over every rule and every tenant holding its series here. */
  async tick(): Promise<void> {
    const { rules, source } = this.#o;
    // No points held on this node: nothing to evaluate (and no query for the tenants' rules).
    if (source.readable === 0) return;
    for (const rule of rules) for (const tenant of new Set(source.holders(rule.series, rule.labels))) await this.#guarded(rule, tenant);
    const configured = new Set(rules.map((r) => r.name));
    const byTenant = await this.#o.tenantRules().catch((err: unknown) => {
      this.#o.logger.warn({ err }, 'reading the alert rules of tenants failed');
      return new Map<string, readonly AlertRule[]>();
    });
    for (const [tenant, own] of byTenant) {
      for (const rule of own) if (!configured.has(rule.name) && source.holders(rule.series, rule.labels).includes(tenant)) await this.#guarded(rule, tenant);
    }
  }

  async #guarded(rule: AlertRule, tenant: string): Promise<void> {
    try {
      await this.#evaluate(rule, tenant);
    } catch (err) {
      this.#o.logger.warn({ err, rule: rule.name, tenant }, 'alert evaluation failed');
    }
  }

  /** Give up every lease held (at stop), so another node takes over at once. */
  async release(): Promise<void> {
    for (const [key, token] of this.#held) await this.#o.leases.release(key, token).catch(() => false);
    this.#held.clear();
    this.#upTo.clear();
  }

  async #lease(key: string): Promise<boolean> {
    const { leases, leaseTtl, nodeId } = this.#o;
    const token = this.#held.get(key);
    if (token !== undefined && (await leases.renew(key, token, leaseTtl))) return true;
    this.#held.delete(key);
    // Another node may have evaluated meanwhile: read the stored state again.
    this.#upTo.delete(key);
    const granted = await leases.acquire(key, leaseTtl, nodeId);
    if (granted === null) return false;
    this.#held.set(key, granted);
    return true;
  }

  async #evaluate(rule: AlertRule, tenant: string): Promise<void> {
    const key = `alert:${tenant}:${rule.name}`;
    if (!(await this.#lease(key))) return;
    const step = STEPS[rule.resolution] as number;
    const upTo = Math.floor(this.#o.now() / step) * step;
    if (this.#upTo.get(key) === upTo) return;
    await this.#catchUp(rule, tenant);
    this.#upTo.set(key, upTo);
  }

  /** Announce a pending transition, then feed the buckets not evaluated yet, storing each step. */
  async #catchUp(rule: AlertRule, tenant: string): Promise<void> {
    const { store } = this.#o;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const cur = await store.get(tenant, rule.name);
      if (cur.pending) {
        await this.#announce(rule, tenant, cur.pending);
        await store.announced(tenant, rule.name, cur.pending.seq);
        continue;
      }
      let state = cur.state;
      let transition: AlertTransition | null = null;
      for (const sample of this.#samples(rule, tenant, state.evaluatedAt)) {
        const step = stepAlert(rule, state, sample);
        state = step.state;
        transition = step.transition;
        if (transition) break;
      }
      if (state === cur.state) return;
      // Lost to another writer: read what it stored and go on from there.
      if (!(await store.put(tenant, rule.name, cur.version, state, transition))) continue;
      if (!transition) return;
    }
  }

  /** The complete buckets of the rule's statistic after `after` (from the first bucket with points when null). */
  #samples(rule: AlertRule, tenant: string, after: number | null): AlertSample[] {
    const step = STEPS[rule.resolution] as number;
    const to = Math.floor(this.#o.now() / step) * step;
    const retention = this.#o.source.retention(rule.series, rule.resolution, tenant) ?? step;
    const from = Math.max(after ?? 0, to - retention);
    if (from >= to) return [];
    const stat: Stat = rule.stat;
    const read = this.#o.source.read(tenant, rule.series, rule.labels, rule.resolution, from, to, [stat]);
    if (!read?.ok) return [];
    const values = stat === 'count' ? read.count : (read.stats[stat] ?? []);
    const out: AlertSample[] = [];
    for (let i = 0; i < read.count.length; i++) {
      const n = read.count[i] as number;
      if (after === null && out.length === 0 && n === 0) continue;
      const start = read.start + i * read.step;
      const value = values[i] ?? (n === 0 && (stat === 'sum' || stat === 'rate') ? 0 : null);
      out.push({ start, end: start + read.step, value });
    }
    return out;
  }

  async #announce(rule: AlertRule, scope: string, t: AlertTransition): Promise<void> {
    // A rule over the server's own figures reports to the tenant it names.
    const tenant = scope === SYSTEM_SCOPE ? rule.tenant : scope;
    if (tenant === undefined) return;
    const key = `metrics-alert:${rule.name}:${t.seq}:${t.at}`;
    const labels = Object.entries(rule.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const what = `${rule.stat} of ${rule.series}${labels ? `{${labels}}` : ''}`;
    const relation = t.to === 'resolved' ? (rule.direction === 'above' ? 'at or below' : 'at or above') : rule.direction;
    const data = {
      rule: rule.name,
      series: rule.series,
      labels: rule.labels,
      stat: rule.stat,
      resolution: rule.resolution,
      from: t.from,
      to: t.to,
      value: t.value,
      threshold: t.threshold,
      at: t.at,
      seq: t.seq,
    };
    await this.#o.feed.record(
      tenant,
      { scope: rule.scope, actor: 'metrics', verb: `alert.${t.to}`, object: `alert:${rule.name}`, target: rule.series, data, time: t.at },
      key,
    );
    const recipients = recipientsOf(rule, this.#o.roles);
    if (recipients !== 'everyone' && recipients.length === 0) return;
    await this.#o.inbox.create(
      tenant,
      recipients,
      {
        type: 'performance',
        title: `${rule.name}: ${t.to}`,
        body: `${what} is ${t.value} (${relation} ${t.threshold})`,
        data,
        priority: PRIORITY[t.to],
        category: 'alerts',
        resource: `alert:${rule.name}`,
      },
      { idempotencyKey: key },
    );
  }
}
