import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { type MetricsConfig, metricsConfig } from './config.js';
import { MetricStores } from './metric-stores.js';
import { metricRoutes } from './routes.js';
import { METRICS_NAMESPACE, metricSubscriptionCommands } from './subscription-commands.js';
import { MetricSubscriptions } from './subscriptions.js';

/** How often idle stores are looked for and old buckets dropped, ms (on the node's clock). */
const SWEEP_INTERVAL_MS = 1000;

/**
 * Metric streams: series declared in config, points ingested over HTTP into per-tenant bucket
 * stores in memory, buckets read back in columns, and paced columnar subscriptions
 * (`metrics.subscribe`). See docs/metrics.md. Its service is the stores themselves.
 */
export function metricsFeature(): FeatureModule<MetricsConfig, MetricStores> {
  let running: { stores: MetricStores; subscriptions: MetricSubscriptions; config: MetricsConfig; timer: NodeJS.Timeout } | null = null;
  const live = (): NonNullable<typeof running> => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'metrics are starting');
    return running;
  };

  return defineFeature({
    name: 'metrics',
    config: { schema: metricsConfig, description: 'metric streams: declared series, ingest, query and subscriptions' },
    // Reading a series needs `subscribe` on `metrics:<series>` (a token capability); nobody publishes there.
    namespaces: { [METRICS_NAMESPACE]: { subscribe: 'capability', clientPublish: false, presence: false } },
    commands: metricSubscriptionCommands(live, () => live().config),
    routes: (cfg) => metricRoutes(() => live().stores, cfg),
    hooks: {
      onDisconnect({ client }) {
        running?.subscriptions.closeClient(client.id);
      },
    },
    start(ctx) {
      const stores = new MetricStores(ctx.config, { now: () => ctx.node.now() });
      const subscriptions = new MetricSubscriptions(stores, { now: () => ctx.node.now() }, ctx.node.limits.queueSignalDropBytes);
      const timer = setInterval(() => stores.sweep(), SWEEP_INTERVAL_MS);
      timer.unref();
      running = { stores, subscriptions, config: ctx.config, timer };
      return stores;
    },
    stop() {
      if (running) {
        clearInterval(running.timer);
        running.subscriptions.stop();
      }
      running = null;
    },
  });
}
