import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { scheduleSweep } from '../sweep-job.js';
import { AuditAggregator } from './aggregator.js';
import { type AuditConfig, auditConfig } from './config.js';
import { AUDIT_EVENTS } from './events.js';
import { auditMetrics } from './metrics.js';
import { AUDIT_MIGRATIONS } from './migrations.js';
import { auditRoutes } from './routes.js';
import { AuditLog } from './service.js';
import { AuditStore } from './store.js';

/** How often (wall clock) ended minute windows are looked for and written. */
const FLUSH_CHECK_MS = 1000;

/**
 * The audit log: security events and admin actions per tenant (and a system scope), heard
 * from the node's security door, aggregated per minute with per-IP caps, written in batches,
 * each tenant entry also an `audit.<type>` webhook event; queryable at GET /api/v1/audit,
 * swept after `audit.retention` by the job runner. See docs/audit.md. Its service is the AuditLog.
 */
export function auditFeature(): FeatureModule<AuditConfig, AuditLog> {
  let running: { log: AuditLog; timer: NodeJS.Timeout; unsubscribe: () => void } | null = null;
  const log = (): AuditLog => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'the audit log is starting');
    return running.log;
  };

  return defineFeature({
    name: 'audit',
    config: { schema: auditConfig, description: 'audit log' },
    migrations: AUDIT_MIGRATIONS,
    events: AUDIT_EVENTS,
    routes: (config) => auditRoutes(log, config),
    async start(ctx) {
      const now = () => ctx.node.now();
      const store = new AuditStore(ctx.storage);
      const aggregator = new AuditAggregator(() => ({ rowsPerIp: ctx.config.rowsPerIpPerMinute, maxKeys: ctx.config.maxKeysPerWindow }));
      const created = new AuditLog({
        store,
        aggregator,
        events: ctx.events,
        metrics: auditMetrics(ctx.node.metricsRegistry),
        config: () => ctx.config,
        now,
        logger: ctx.logger,
      });
      await scheduleSweep(ctx.jobs, ctx.logger, now, {
        what: 'audit retention sweep',
        every: () => ctx.config.sweepInterval,
        run: async () => ({ entries: await created.sweep() }),
      });
      const unsubscribe = ctx.node.security.subscribe((e) => created.hear(e));
      const timer = setInterval(() => {
        created.flushDue().catch((err) => ctx.logger.warn({ err }, 'writing audit entries failed'));
      }, FLUSH_CHECK_MS);
      timer.unref();
      running = { log: created, timer, unsubscribe };
      return created;
    },
    async stop() {
      if (!running) return;
      const { log: l, timer, unsubscribe } = running;
      unsubscribe();
      clearInterval(timer);
      l.stop();
      await l.flush().catch(() => 0);
      running = null;
    },
  });
}
