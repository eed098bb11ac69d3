import { randomBytes } from 'node:crypto';
import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import { DEMO_TENANT, demoEnabled } from '../../http/api/demo-token.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { scheduleSweep } from '../sweep-job.js';
import { alertRoutes } from './alert-routes.js';
import { AlertRuleStore } from './alert-rule-store.js';
import { ALERT_MIGRATIONS, AlertStore } from './alert-store.js';
import { AlertEvaluator, type AlertFeed, type AlertInbox } from './alerts.js';
import { MetricPusher } from './cluster-push.js';
import { metricCommands } from './commands.js';
import { type MetricsConfig, metricsConfig } from './config.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { DASHBOARD_NAMESPACE, Dashboards } from './dashboards.js';
import { DemoGenerator } from './demo-generator.js';
import { Ingest } from './ingest.js';
import { MetricStores } from './metric-stores.js';
import { METRIC_MIGRATIONS } from './migrations.js';
import { PersistedMinutes } from './persist.js';
import { metricRoutes, type StoredMetrics } from './routes.js';
import { SelfMeter } from './self-meter.js';
import { SeriesRegistry } from './series-registry.js';
import { seriesRoutes } from './series-routes.js';
import { METRICS_NAMESPACE, metricSubscriptionCommands } from './subscription-commands.js';
import { MetricSubscriptions } from './subscriptions.js';
import { SystemGrants } from './system-grants.js';
import { systemRoutes } from './system-routes.js';

/** How often idle stores are looked for and old buckets dropped, ms (on the node's clock). */
const SWEEP_INTERVAL_MS = 1000;
/**
 * Closed minutes stored per tick, at most (one transaction): the minutes of every series close
 * at once; encoding 2,000 (~260 bytes each) took 40–100 ms and writing them on SQLite, whose
 * driver blocks, 20–140 ms on a loaded 2-core machine.
 */
const MINUTES_PER_FLUSH = 2000;

interface Running extends StoredMetrics {
  stores: MetricStores;
  ingest: Ingest;
  subscriptions: MetricSubscriptions;
  config: MetricsConfig;
  dashboards: Dashboards;
  alerts: AlertStore;
  rules: AlertRuleStore;
  evaluator: AlertEvaluator;
  timers: NodeJS.Timeout[];
  pusher: MetricPusher;
  meter: SelfMeter;
  grants: SystemGrants;
  /** The demo workspace's traffic, while the demo is on. */
  generator: DemoGenerator | null;
}

/**
 * Metric streams: series declared in config or per tenant over HTTP, points ingested over HTTP
 * and the socket (`metrics.push`) into per-tenant bucket stores in memory, buckets read back
 * in columns and in paced columnar subscriptions (`metrics.subscribe`), the 1-minute buckets of
 * persisted series kept in storage, saved dashboards, alert rules and health. See
 * docs/metrics.md. Its service is the stores themselves.
 */
export function metricsFeature(): FeatureModule<MetricsConfig, MetricStores> {
  let running: Running | null = null;
  const started = (): Running => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'metrics are starting');
    return running;
  };
  let evaluating: Promise<void> = Promise.resolve();

  return defineFeature({
    name: 'metrics',
    // Alert transitions are recorded in the activity feed and sent as notifications.
    dependsOn: ['notifications', 'activity'],
    config: { schema: metricsConfig, description: 'metric streams: declared series, ingest, query and subscriptions' },
    // A dashboard's saves are published on `dashboard:{id}`, where its viewers are present.
    // Reading a series needs `subscribe` on `metrics:<series>` (a token capability); nobody publishes there.
    namespaces: {
      [DASHBOARD_NAMESPACE]: { subscribe: 'authenticated', clientPublish: false },
      [METRICS_NAMESPACE]: { subscribe: 'capability', clientPublish: false, presence: false },
    },
    commands: [...metricSubscriptionCommands(started, () => started().config), ...metricCommands(() => started().ingest)],
    hooks: {
      onDisconnect({ client }) {
        running?.subscriptions.closeClient(client.id);
      },
    },
    migrations: [...METRIC_MIGRATIONS, ...ALERT_MIGRATIONS],
    routes: (cfg) => [
      ...metricRoutes(
        () => started().stores,
        () => started().ingest,
        cfg,
        started,
      ),
      ...seriesRoutes(
        () => started().registry,
        cfg,
        () => started().stores,
      ),
      ...systemRoutes(() => started().grants),
      ...dashboardRoutes(() => started().dashboards, cfg),
      ...alertRoutes({ config: cfg, states: () => started().alerts, rules: () => started().rules, declared: (t, s) => started().stores.declaration(s, t) }),
    ],
    async start(ctx) {
      const clock = { now: () => ctx.node.now() };
      const writer = `${ctx.messages.nodeId}/${randomBytes(4).toString('hex')}`;
      const persistOptions = () => ({ lateness: ctx.config.lateness, retention: ctx.config.persistRetention });
      const persisted = new PersistedMinutes(ctx.storage, clock, writer, persistOptions, ctx.logger);
      const registry = new SeriesRegistry(ctx.storage, clock, () => ctx.config, ctx.logger);
      const created = new MetricStores(ctx.config, clock, {
        lookup: (tenant, name) => registry.lookup(tenant, name),
        persisted: (key, held, ts) => persisted.touched(key, held, ts),
      });
      registry.onChange((tenant, name, decl) => {
        if (!decl) persisted.forget(tenant, name).catch((err: unknown) => ctx.logger.warn({ err }, 'stored minutes of a deleted series not deleted'));
        created.redeclared(tenant, name, decl);
      });
      registry.connect(ctx.messages);
      await registry.refresh();
      const ingest = new Ingest(created, ctx.config, clock.now, ctx.node.metricsRegistry, () => ({ registry, persisted }), ctx.node.rates);
      // The minutes due are encoded before the sweep may drop them from memory, then written.
      const tick = setInterval(() => {
        persisted.collect(false, MINUTES_PER_FLUSH);
        created.sweep();
        ingest.sweep();
        void persisted.write();
      }, SWEEP_INTERVAL_MS);
      const refresh = setInterval(() => {
        registry.refresh().catch((err: unknown) => ctx.logger.warn({ err }, 'metric series declarations not reloaded'));
      }, ctx.config.seriesRefresh);
      tick.unref();
      refresh.unref();
      if (!ctx.node.config.namespaces[DASHBOARD_NAMESPACE])
        ctx.logger.warn(`no "${DASHBOARD_NAMESPACE}" namespace configured: dashboards are stored but their saves are not published`);
      const pusher = new MetricPusher(created, ctx.messages, ctx.logger, writer);
      pusher.start(Math.max(10, ctx.config.pushInterval));
      created.cluster = pusher;
      const subscriptions = new MetricSubscriptions(created, clock, ctx.node.limits.queueSignalDropBytes);
      // The server's own figures, into the system scope (announced to the other nodes like any store).
      const meter = new SelfMeter({ figures: ctx.node.selfFigures, stores: created, ingest, nodeId: ctx.node.id, clock, logger: ctx.logger });
      meter.start(ctx.config.systemInterval);
      created.meter = meter;
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
      const alertTick = () => {
        if (ticking) return;
        ticking = true;
        evaluating = evaluator.tick().finally(() => {
          ticking = false;
        });
      };
      const timers = [tick, refresh];
      const generator = demoEnabled(ctx.node.config)
        ? new DemoGenerator({
            tenant: DEMO_TENANT,
            ingest,
            registry,
            configured: (name) => created.declaration(name),
            leases: ctx.leases,
            followed: () => subscriptions.follows(DEMO_TENANT, 'demo.'),
            nodeId: ctx.messages.nodeId,
            now: () => ctx.node.now(),
            logger: ctx.logger,
          })
        : null;
      await generator?.start();
      if (ctx.config.alertInterval > 0) {
        const alertTimer = setInterval(alertTick, Math.max(10, ctx.config.alertInterval));
        alertTimer.unref();
        timers.push(alertTimer);
      }
      running = {
        stores: created,
        ingest,
        registry,
        persisted,
        subscriptions,
        config: ctx.config,
        dashboards: new Dashboards(ctx.storage, ctx.node, () => ctx.config),
        alerts,
        rules,
        evaluator,
        timers,
        pusher,
        meter,
        generator,
        grants: new SystemGrants(
          ctx.leases,
          () => ctx.config.systemGrantTtl,
          () => ctx.node.now(),
        ),
      };
      await scheduleSweep(ctx.jobs, ctx.logger, () => ctx.node.now(), {
        what: 'metrics stored minutes sweep',
        every: () => ctx.config.persistSweepInterval,
        run: async () => ({ minutes: await persisted.sweep() }),
      });
      return created;
    },
    async stop() {
      const was = running;
      running = null;
      if (!was) return;
      for (const t of was.timers) clearInterval(t);
      was.meter.stop();
      await was.generator?.stop();
      // What changed since the last announcement reaches the other nodes before this one goes.
      await was.pusher.push();
      was.pusher.stop();
      was.subscriptions.stop();
      await evaluating;
      await was.evaluator.release();
      // What this node ingested and did not write yet, open minutes too: a restart keeps it.
      await was.persisted.flush(true);
    },
  });
}
