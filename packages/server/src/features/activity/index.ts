import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { scheduleSweep } from '../sweep-job.js';
import { activityCommands } from './commands.js';
import { type ActivityConfig, activityConfig } from './config.js';
import { ActivityFeeds } from './feeds.js';
import { ACTIVITY_MIGRATIONS } from './migrations.js';
import { ACTIVITY_NAMESPACE } from './model.js';
import { activityRoutes } from './routes.js';
import { ActivityStore } from './store.js';

export interface ActivityFeatureOptions {
  /** The clock (Unix ms) for activity times and retention; the server's clock (`ctx.node.now`) unless given. */
  now?: () => number;
}

/**
 * Activity feeds: record and query what happened in a scope (`project:42`), live on
 * `activity:{scope}` for exactly who may subscribe to the scope. See docs/activity.md.
 * Its service (for features that depend on it) is the ActivityFeeds.
 */
export function activityFeature(options: ActivityFeatureOptions = {}): FeatureModule<ActivityConfig, ActivityFeeds> {
  let running: { feeds: ActivityFeeds } | null = null;
  const feeds = (): ActivityFeeds => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'activity feeds are starting');
    return running.feeds;
  };

  return defineFeature({
    name: 'activity',
    config: { schema: activityConfig, description: 'activity feeds' },
    namespaces: {
      // Live activity of scope S is `activity:S`; the hook below lets in exactly who may subscribe to S.
      [ACTIVITY_NAMESPACE]: {
        subscribe: 'authenticated',
        historySize: 0,
        clientPublish: false,
        presence: false,
        joinLeave: false,
        signals: false,
        recovery: false,
      },
    },
    migrations: ACTIVITY_MIGRATIONS,
    commands: activityCommands(feeds),
    routes: () => activityRoutes(feeds),
    hooks: {
      async beforeSubscribe({ client, channel }) {
        if (channel.namespace !== ACTIVITY_NAMESPACE) return;
        const identity = client.identity;
        const denied = new ReplyError(ErrorCode.PermissionDenied, `needs the subscribe permission on ${channel.name || '(no scope)'}`);
        if (!identity || !running) throw denied;
        let scope: ReturnType<ActivityFeeds['resolveScope']>;
        try {
          scope = running.feeds.resolveScope(identity.tenant, channel.name);
        } catch {
          throw denied;
        }
        if (!running.feeds.mayRead(identity, scope)) throw denied;
      },
    },
    async start(ctx) {
      const created = new ActivityFeeds(new ActivityStore(ctx.storage, options.now ?? (() => ctx.node.now())));
      created.attach(ctx.node, ctx.config);
      ctx.node.quotas.countRowsWith('activity', (tenant) => created.store.countRows(tenant));
      if (!ctx.node.config.namespaces[ACTIVITY_NAMESPACE]) ctx.logger.warn('no "activity" namespace configured: activities are stored but not pushed live');
      running = { feeds: created };
      await scheduleSweep(ctx.jobs, ctx.logger, () => ctx.node.now(), {
        what: 'activity retention sweep',
        every: () => ctx.config.sweepInterval,
        run: () => created.store.sweep(ctx.config.retentionDays, ctx.config.idempotencyTtl),
      });
      return created;
    },
  });
}
