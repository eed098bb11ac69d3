import { ErrorCode } from '@switchboard/protocol';
import type { FeatureModule } from '../../core/modules.js';
import type { Node } from '../../core/node.js';
import { ReplyError } from '../../core/reply-error.js';
import { RetentionSweep } from '../../storage/retention.js';
import type { Storage } from '../../storage/storage.js';
import { activityCommands } from './commands.js';
import { ActivityFeeds } from './feeds.js';
import { ACTIVITY_NAMESPACE } from './model.js';
import { activityRoutes } from './routes.js';
import { ActivityStore } from './store.js';

export interface ActivityFeatureOptions {
  /** The clock (Unix ms) for activity times and retention; tests inject one. */
  now?: () => number;
}

/**
 * Activity feeds: record and query what happened in a scope (`project:42`), live on
 * `activity:{scope}` for exactly who may subscribe to the scope. See docs/activity.md.
 */
export function activityFeature(storage: Storage, options: ActivityFeatureOptions = {}): FeatureModule & { feeds: ActivityFeeds } {
  const feeds = new ActivityFeeds(new ActivityStore(storage, options.now));
  let node: Node | null = null;

  const retention = new RetentionSweep('activity', async () => {
    if (!node) return {};
    const { retentionDays, idempotencyTtl } = node.config.activity;
    return feeds.store.sweep(retentionDays, idempotencyTtl);
  });

  return {
    name: 'activity',
    feeds,
    commands: activityCommands(feeds),
    routes: activityRoutes(feeds),
    hooks: {
      // The live channel of scope S is `activity:S`: only who may subscribe to S gets in.
      async beforeSubscribe({ client, channel }) {
        if (channel.namespace !== ACTIVITY_NAMESPACE) return;
        const identity = client.identity;
        const denied = new ReplyError(ErrorCode.PermissionDenied, `needs the subscribe permission on ${channel.name || '(no scope)'}`);
        if (!identity) throw denied;
        let scope;
        try {
          scope = feeds.resolveScope(identity.tenant, channel.name);
        } catch {
          throw denied;
        }
        if (!feeds.mayRead(identity, scope)) throw denied;
      },
    },
    async start(n) {
      node = n;
      feeds.attach(n);
      if (!n.config.namespaces[ACTIVITY_NAMESPACE]) n.logger.warn('no "activity" namespace configured: activities are stored but not pushed live');
      await retention.start(n.logger, n.config.activity.sweepInterval);
    },
    async stop() {
      await retention.stop();
    },
  };
}
