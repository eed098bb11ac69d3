import { ErrorCode } from '@switchboard/protocol';
import type { Config } from '../../config/schema.js';
import type { FeatureModule } from '../../core/modules.js';
import type { Node } from '../../core/node.js';
import { ReplyError } from '../../core/reply-error.js';
import { RetentionSweep } from '../../storage/retention.js';
import type { Storage } from '../../storage/storage.js';
import { notificationCommands } from './commands.js';
import { USER_NAMESPACE } from './delivery.js';
import { Inbox } from './inbox.js';
import { notificationRoutes } from './routes.js';
import { NotificationStore } from './store.js';

export interface NotificationsFeatureOptions {
  /** The clock (Unix ms) for created/read times and retention; tests inject one. */
  now?: () => number;
}

/**
 * The notifications inbox: persisted per user, pushed live to `user:{sub}`, read state,
 * preferences, batching by group key, cursor pagination, retention. See docs/notifications.md.
 */
export function notificationsFeature(storage: Storage, options: NotificationsFeatureOptions = {}): FeatureModule & { inbox: Inbox } {
  let node: Node | null = null;
  const config = (): Config['notifications'] => {
    if (!node) throw new ReplyError(ErrorCode.Unavailable, 'notifications are starting');
    return node.config.notifications;
  };
  const inbox = new Inbox(new NotificationStore(storage, options.now), config, (err) => node?.logger.warn({ err }, 'notifications storage unavailable'));

  const retention = new RetentionSweep('notifications', async () => {
    const { retentionDays, idempotencyTtl } = config();
    return inbox.store.sweep(retentionDays, idempotencyTtl);
  });

  return {
    name: 'notifications',
    inbox,
    commands: notificationCommands(inbox),
    routes: notificationRoutes(inbox),
    hooks: {
      async onConnect({ identity }) {
        try {
          await inbox.store.touchUser(identity.tenant, identity.user);
        } catch (err) {
          // A storage hiccup must not refuse the connection; the user is recorded next time.
          node?.logger.warn({ err }, 'recording a connected user failed');
        }
      },
    },
    async start(n) {
      node = n;
      inbox.delivery.attach(n);
      if (!n.config.namespaces[USER_NAMESPACE]) n.logger.warn('no "user" namespace configured: notifications are stored but not pushed live');
      await retention.start(n.logger, n.config.notifications.sweepInterval);
    },
    async stop() {
      await retention.stop();
      await inbox.delivery.idle();
    },
  };
}
