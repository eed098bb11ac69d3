import { ErrorCode } from '@switchboard/protocol';
import { parseDuration } from '../../config/duration.js';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { scheduleSweep } from '../sweep-job.js';
import { type WebhooksConfig, webhooksConfig } from './config.js';
import { applyDeclaredEndpoints } from './declared-endpoints.js';
import { DELIVER, Deliveries, PROBE } from './delivery.js';
import { EndpointCache } from './endpoint-cache.js';
import { WEBHOOK_EVENTS } from './events.js';
import { Lifecycle } from './lifecycle.js';
import { webhookMetrics } from './metrics.js';
import { WEBHOOK_MIGRATIONS } from './migrations.js';
import { webhookRoutes } from './routes.js';
import { DeliveryFailure, probeWait, retryDelay } from './schedule.js';
import { WebhookSender } from './sender.js';
import { WebhookService } from './service.js';
import { addressCheck } from './ssrf.js';
import { WebhookStore } from './store.js';

/** How often delivered and failed messages older than `keepMessages` are deleted. */
const SWEEP_INTERVAL = 10 * 60_000;

export interface WebhooksFeatureOptions {
  /** Randomness of the retry jitter (tests pass a constant). */
  random?: () => number;
}

/**
 * Webhooks: endpoints per tenant, the event catalogue's events delivered to them signed by the
 * Standard Webhooks scheme, from an outbox in the job runner's table, retried on the schedule,
 * listed and replayable. See docs/webhooks.md. Its service is the WebhookService.
 */
export function webhooksFeature(options: WebhooksFeatureOptions = {}): FeatureModule<WebhooksConfig, WebhookService> {
  let running: {
    service: WebhookService;
    sender: WebhookSender;
    lifecycle: Lifecycle;
    emit: (type: string, tenant: string, data: unknown) => void;
  } | null = null;
  const service = (): WebhookService => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'webhooks are starting');
    return running.service;
  };

  return defineFeature({
    name: 'webhooks',
    config: { schema: webhooksConfig, description: 'webhooks' },
    migrations: WEBHOOK_MIGRATIONS,
    events: WEBHOOK_EVENTS,
    routes: (config) => webhookRoutes(service, config),
    hooks: {
      onConnect({ client, identity }) {
        if (!running) return;
        running.emit('connection.opened', identity.tenant, {
          connectionId: client.id,
          user: identity.user,
          ip: client.meta.ip,
          userAgent: client.meta.userAgent ?? null,
        });
        running.lifecycle.connected(client, identity.tenant, identity.user);
      },
      onDisconnect({ client, code, lost, durationMs }) {
        running?.lifecycle.disconnected(client, { code, lost, durationMs });
      },
      afterSubscribe({ client, channel }) {
        running?.lifecycle.subscribed(client, channel);
      },
      onUnsubscribe({ client, channel }) {
        running?.lifecycle.unsubscribed(client, channel);
      },
      onPresenceJoin({ client, channel, state }) {
        running?.lifecycle.presenceSet(client, channel, state);
      },
      onPresenceUpdate({ client, channel, state }) {
        running?.lifecycle.presenceSet(client, channel, state);
      },
      onPresenceLeave({ client, channel }) {
        running?.lifecycle.presenceLeft(client, channel);
      },
    },
    async start(ctx) {
      const now = () => ctx.node.now();
      const random = options.random ?? Math.random;
      const store = new WebhookStore(ctx.storage);
      const cache = new EndpointCache();
      const check = addressCheck(ctx.config.allowNetworks);
      const declared = await applyDeclaredEndpoints(store, ctx.config, { check, catalogue: ctx.events.catalogue(), now: now(), logger: ctx.logger });
      cache.load(await store.allEndpoints());
      const lifecycle = new Lifecycle({
        storage: ctx.storage,
        events: ctx.events,
        jobs: ctx.jobs,
        messages: ctx.messages,
        leases: ctx.leases,
        logger: ctx.logger,
        now,
        grace: () => ctx.config.lifecycleGrace,
      });
      // In the turn the list changes: members the hooks ignored while it did not want them are recorded.
      const backfill = (tenant: string) => {
        // Not before start ends (the loop after it covers every tenant), nor after stop.
        if (running?.lifecycle === lifecycle) lifecycle.backfill(ctx.node.localSessions(tenant), ctx.node.localFeaturePresences(tenant));
      };
      const reloads = new Map<string, Promise<void>>();
      /** Reload a tenant's endpoints; reloads of one tenant run in turn, so an older read never lands last. */
      const reload = (tenant: string): Promise<void> => {
        const next = (reloads.get(tenant) ?? Promise.resolve()).then(async () => {
          cache.set(tenant, await store.allEndpoints(tenant));
          backfill(tenant);
        });
        const tail = next.catch(() => {});
        reloads.set(tenant, tail);
        void tail.then(() => {
          if (reloads.get(tenant) === tail) reloads.delete(tenant);
        });
        return next;
      };
      ctx.messages.onNotification('changed', (data) => reload((data as { tenant: string }).tenant));
      const announce = (tenant: string) =>
        ctx.messages.notify('changed', { tenant }).catch((err) => ctx.logger.warn({ err }, 'announcing a webhook endpoint change failed'));
      // The API answers a change once this node's cache has it: an event made right after the
      // answer is matched against the endpoint as changed. A failed reload is logged, not the
      // request's error (the change itself is stored; the next reload brings it).
      const changed = async (tenant: string): Promise<void> => {
        announce(tenant);
        await reload(tenant).catch((err) => ctx.logger.warn({ err }, 'reloading webhook endpoints failed'));
      };
      const sender = new WebhookSender(check);
      const metrics = webhookMetrics(ctx.node.metricsRegistry, () => store.backlog(), now);
      const schedule = ctx.config.retrySchedule.map((d) => parseDuration(d) ?? 0);
      const deliveries = new Deliveries({
        store,
        jobs: ctx.jobs,
        cache,
        sender,
        metrics,
        logger: ctx.logger,
        config: () => ctx.config,
        now,
        changed,
        retryWait: (attempts, failure) => retryDelay(attempts, schedule, failure, random),
      });
      ctx.jobs.handle(DELIVER, (job, signal) => deliveries.deliver(job, signal), {
        maxAttempts: schedule.length + 1,
        retryDelay: (job, err) => retryDelay(job.attempts, schedule, err, random),
        // Kept as long as their messages (webhooks.keepMessages), deleted with them by the sweep below.
        keepsFinished: true,
        // A delivered message is one whose delivery job is gone (its attempts say when and how).
        deletesDone: true,
        // Many short attempts: their outcomes (attempt rows, completions) commit in groups.
        groupCommit: true,
        // Every attempt is a row of sb_webhook_attempts (and a metric): no log line per retry.
        recordsAttempts: true,
      });
      ctx.jobs.handle(PROBE, (job, signal) => deliveries.probe(job, signal), {
        // A probe lasts as long as its endpoint fails (then webhooks.disableAfter disables it).
        maxAttempts: 1_000_000_000,
        retryDelay: (_job, err) => probeWait(ctx.config.probeInterval, err instanceof DeliveryFailure ? err.retryAfterMs : null),
        recordsAttempts: true,
      });
      ctx.events.consume(deliveries);
      const created = new WebhookService(store, deliveries, { config: () => ctx.config, check, catalogue: () => ctx.events.catalogue(), now, changed });
      const emit = (type: string, tenant: string, data: unknown) => {
        if (!ctx.events.wanted(tenant, type)) return;
        ctx.events.emit(type, tenant, data).catch((err) => ctx.logger.warn({ err, type }, 'storing a webhook event failed'));
      };
      await lifecycle.start();
      running = { service: created, sender, lifecycle, emit };
      for (const tenant of cache.tenants()) backfill(tenant);
      // The other nodes learn of the endpoints this node's config file added or changed.
      for (const tenant of declared) announce(tenant);
      await scheduleSweep(ctx.jobs, ctx.logger, now, {
        what: 'webhooks retention sweep',
        every: () => SWEEP_INTERVAL,
        run: async () => ({ messages: await store.sweep(now() - ctx.config.keepMessages) }),
      });
      return created;
    },
    async stop() {
      if (!running) return;
      await running.lifecycle.stop();
      running.sender.close();
      running = null;
    },
  });
}
