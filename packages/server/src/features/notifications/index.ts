import { ErrorCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { scheduleSweep } from '../sweep-job.js';
import { notificationCommands } from './commands.js';
import { type NotificationsConfig, notificationsConfig } from './config.js';
import { USER_NAMESPACE } from './delivery.js';
import { createdEvent, NOTIFICATION_EVENTS, notificationCreated } from './events.js';
import { Inbox } from './inbox.js';
import { NOTIFICATION_MIGRATIONS } from './migrations.js';
import { notificationRoutes } from './routes.js';
import { NotificationStore } from './store.js';

export interface NotificationsFeatureOptions {
  /** The clock (Unix ms) for created/read times and retention; the server's clock (`ctx.node.now`) unless given. */
  now?: () => number;
}

/**
 * The notifications inbox: persisted per user, pushed live to `user:{sub}`, read state,
 * preferences, batching by group key, cursor pagination, retention. See docs/notifications.md.
 * Its service (for features that depend on it) is the Inbox.
 */
export function notificationsFeature(options: NotificationsFeatureOptions = {}): FeatureModule<NotificationsConfig, Inbox> {
  let running: { inbox: Inbox; logger: Logger } | null = null;
  const inbox = (): Inbox => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'notifications are starting');
    return running.inbox;
  };

  return defineFeature({
    name: 'notifications',
    config: { schema: notificationsConfig, description: 'notifications' },
    // The personal channel `user:{sub}`, where notifications are pushed; the kernel declares it
    // too, and the host checks the two agree.
    namespaces: { [USER_NAMESPACE]: { subscribe: 'owner', clientPublish: false, presence: false } },
    migrations: NOTIFICATION_MIGRATIONS,
    events: NOTIFICATION_EVENTS,
    commands: notificationCommands(inbox),
    routes: (config) => notificationRoutes(inbox, config.maxRecipients),
    hooks: {
      async onConnect({ identity }) {
        if (!running) return;
        try {
          await running.inbox.store.touchUser(identity.tenant, identity.user);
        } catch (err) {
          // A storage hiccup must not refuse the connection; the user is recorded next time.
          running.logger.warn({ err }, 'recording a connected user failed');
        }
      },
    },
    async start(ctx) {
      const created = new Inbox(
        new NotificationStore(
          ctx.storage,
          options.now ?? (() => ctx.node.now()),
          async (trx, tenant, created) => {
            if (!ctx.events.wanted(tenant, notificationCreated.type)) return;
            await ctx.events.emitMany(notificationCreated.type, tenant, created.map(createdEvent), { trx });
          },
          () => ctx.events.committed(),
        ),
        () => ctx.config,
        (err) => ctx.logger.warn({ err }, 'notifications storage unavailable'),
        ctx.node.quotas,
      );
      ctx.node.quotas.countRowsWith('notifications', (tenant) => created.store.countRows(tenant));
      created.delivery.attach(ctx.node);
      if (!ctx.node.config.namespaces[USER_NAMESPACE]) ctx.logger.warn('no "user" namespace configured: notifications are stored but not pushed live');
      running = { inbox: created, logger: ctx.logger };
      await scheduleSweep(ctx.jobs, ctx.logger, () => ctx.node.now(), {
        what: 'notifications retention sweep',
        every: () => ctx.config.sweepInterval,
        run: () => created.store.sweep(ctx.config.retentionDays, ctx.config.idempotencyTtl),
      });
      return created;
    },
    async stop() {
      if (!running) return;
      await running.inbox.delivery.idle();
    },
  });
}
