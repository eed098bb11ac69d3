import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { metricCommands } from './commands.js';
import { type MetricsConfig, metricsConfig } from './config.js';
import { Ingest } from './ingest.js';
import { MetricStores } from './metric-stores.js';
import { metricRoutes } from './routes.js';

/** How often idle stores are looked for and old buckets dropped, ms (on the node's clock). */
const SWEEP_INTERVAL_MS = 1000;

/**
 * Metric streams: series declared in config, points ingested over HTTP and the socket
 * (`metrics.push`) into per-tenant bucket stores in memory, buckets read back in columns.
 * See docs/metrics.md. Its service is the stores themselves.
 */
export function metricsFeature(): FeatureModule<MetricsConfig, MetricStores> {
  let running: { stores: MetricStores; ingest: Ingest; timer: NodeJS.Timeout } | null = null;
  const stores = (): MetricStores => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'metrics are starting');
    return running.stores;
  };
  const ingest = (): Ingest => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'metrics are starting');
    return running.ingest;
  };

  return defineFeature({
    name: 'metrics',
    config: { schema: metricsConfig, description: 'metric streams: declared series, ingest and query' },
    commands: metricCommands(ingest),
    routes: (cfg) => metricRoutes(stores, ingest, cfg),
    start(ctx) {
      const now = () => ctx.node.now();
      const created = new MetricStores(ctx.config, { now });
      const ingestPath = new Ingest(created, ctx.config, now, ctx.node.metricsRegistry);
      const timer = setInterval(() => {
        created.sweep();
        ingestPath.sweep();
      }, SWEEP_INTERVAL_MS);
      timer.unref();
      running = { stores: created, ingest: ingestPath, timer };
      return created;
    },
    stop() {
      if (running) clearInterval(running.timer);
      running = null;
    },
  });
}
