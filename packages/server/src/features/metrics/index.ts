import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { alertRoutes } from './alert-routes.js';
import { AlertRuleStore } from './alert-rule-store.js';
import { ALERT_MIGRATIONS, AlertStore } from './alert-store.js';
import { AlertEvaluator, type AlertFeed, type AlertInbox } from './alerts.js';
import { type MetricsConfig, metricsConfig } from './config.js';
import { MetricStores } from './metric-stores.js';
import { metricRoutes } from './routes.js';

/** How often idle stores are looked for and old buckets dropped, ms (on the node's clock). */
const SWEEP_INTERVAL_MS = 1000;

/**
 * Metric streams: series declared in config, points ingested over HTTP into per-tenant bucket
 * stores in memory, buckets read back in columns. See docs/metrics.md. Its service is the
 * stores themselves.
 */
export function metricsFeature(): FeatureModule<MetricsConfig, MetricStores> {
  let running: {
    stores: MetricStores;
    timer: NodeJS.Timeout;
    alerts: AlertStore;
    rules: AlertRuleStore;
    evaluator: AlertEvaluator;
    alertTimer: NodeJS.Timeout | null;
  } | null = null;
  const stores = (): MetricStores => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'metrics are starting');
    return running.stores;
  };

  const started = () => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'metrics are starting');
    return running;
  };
  let evaluating: Promise<void> = Promise.resolve();

  return defineFeature({
    name: 'metrics',
    // Alert transitions are recorded in the activity feed and sent as notifications.
    dependsOn: ['notifications', 'activity'],
    migrations: ALERT_MIGRATIONS,
    config: { schema: metricsConfig, description: 'metric streams: declared series, ingest and query' },
    routes: (cfg) => [...metricRoutes(stores, cfg), ...alertRoutes({ config: cfg, states: () => started().alerts, rules: () => started().rules })],
    start(ctx) {
      const created = new MetricStores(ctx.config, { now: () => ctx.node.now() });
      const timer = setInterval(() => created.sweep(), SWEEP_INTERVAL_MS);
      timer.unref();
      const alerts = new AlertStore(ctx.storage, () => ctx.node.now());
      const rules = new AlertRuleStore(ctx.storage, () => ctx.node.now());
      const evaluator = new AlertEvaluator({
        rules: ctx.config.alerts,
        tenantRules: () => rules.all(),
        roles: ctx.config.alertRoles,
        source: created,
        store: alerts,
        leases: ctx.leases,
        nodeId: ctx.messages.nodeId,
        inbox: ctx.feature<AlertInbox>('notifications'),
        feed: ctx.feature<AlertFeed>('activity'),
        now: () => ctx.node.now(),
        logger: ctx.logger,
        leaseTtl: Math.max(5000, 3 * ctx.config.alertInterval),
      });
      created.alerts = evaluator;
      for (const rule of ctx.config.alerts) {
        const ns = rule.scope.split(':')[0] as string;
        if (!ctx.node.config.namespaces[ns] || ns === 'activity')
          ctx.logger.warn(
            { rule: rule.name, scope: rule.scope },
            'the scope of an alert rule is not a channel of a declared namespace: its transitions cannot be recorded',
          );
      }
      // One evaluation at a time on a node: a tick that finds the last one still running is skipped.
      let ticking = false;
      const tick = () => {
        if (ticking) return;
        ticking = true;
        evaluating = evaluator.tick().finally(() => {
          ticking = false;
        });
      };
      const alertTimer = ctx.config.alertInterval > 0 ? setInterval(tick, Math.max(10, ctx.config.alertInterval)) : null;
      alertTimer?.unref();
      running = { stores: created, timer, alerts, rules, evaluator, alertTimer };
      return created;
    },
    async stop() {
      if (!running) return;
      const { timer, alertTimer, evaluator } = running;
      clearInterval(timer);
      if (alertTimer) clearInterval(alertTimer);
      await evaluating;
      await evaluator.release();
      running = null;
    },
  });
}
