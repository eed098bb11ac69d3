import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { scheduleSweep } from '../sweep-job.js';
import { mayRead } from './access.js';
import { commentCommands } from './commands.js';
import { type CommentsConfig, commentsConfig, commentsNamespaceOption } from './config.js';
import { DeadlineWatch } from './deadlines.js';
import { COMMENT_MIGRATIONS } from './migrations.js';
import { COMMENTS_NAMESPACE } from './model.js';
import { commentRoutes } from './routes.js';
import { CommentStore } from './store.js';
import type { Mentions } from './thread-notifications.js';
import { CommentThreads } from './threads.js';

export interface CommentsFeatureOptions {
  /** The clock (Unix ms) for comment times; the server's clock (`ctx.node.now`) unless given. */
  now?: () => number;
}

/**
 * Comment threads on any channel of the namespaces with the `comments` option: threads with
 * gap-free ordered comments, mentions (notified through the notifications feature), live on
 * `comments:{channel}` for exactly who may subscribe to the channel. See docs/comments.md.
 * Its service (for features that depend on it) is the CommentThreads.
 */
export function commentsFeature(options: CommentsFeatureOptions = {}): FeatureModule<CommentsConfig, CommentThreads> {
  let running: { threads: CommentThreads } | null = null;
  const threads = (): CommentThreads => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'comments are starting');
    return running.threads;
  };

  return defineFeature({
    name: 'comments',
    dependsOn: ['notifications'],
    config: { schema: commentsConfig, description: 'comment threads' },
    namespaceOption: {
      schema: commentsNamespaceOption,
      description: 'comment threads on the channels: true, or an object overriding comments.* limits and reactions for this namespace',
    },
    namespaces: {
      project: { comments: true },
      // The console's demo workspace has a comment box.
      demo: { comments: true },
      // Live threads of channel C are on `comments:C`; the hook below lets in exactly who may subscribe to C.
      [COMMENTS_NAMESPACE]: {
        subscribe: 'authenticated',
        historySize: 0,
        clientPublish: false,
        presence: false,
        joinLeave: false,
        signals: false,
        recovery: false,
      },
    },
    migrations: COMMENT_MIGRATIONS,
    commands: commentCommands(threads),
    routes: () => commentRoutes(threads),
    hooks: {
      async beforeSubscribe({ client, channel }) {
        if (channel.namespace !== COMMENTS_NAMESPACE) return;
        const identity = client.identity;
        const denied = new ReplyError(ErrorCode.PermissionDenied, `needs the subscribe permission on ${channel.name || '(no channel)'}`);
        if (!identity || !running) throw denied;
        let target: ReturnType<CommentThreads['resolveChannel']>;
        try {
          target = running.threads.resolveChannel(identity.tenant, channel.name);
        } catch {
          throw denied;
        }
        if (!mayRead(identity, target)) throw denied;
      },
    },
    async start(ctx) {
      const store = new CommentStore(ctx.storage, options.now ?? (() => ctx.node.now()), () => ctx.config.groupCommit);
      const inbox = ctx.feature<Mentions>('notifications');
      const created = new CommentThreads(store, ctx.node, ctx.config, inbox);
      if (!ctx.node.config.namespaces[COMMENTS_NAMESPACE]) ctx.logger.warn('no "comments" namespace configured: comments are stored but not pushed live');
      const deadlines = new DeadlineWatch(store, inbox, ctx.logger);
      created.deadlines = deadlines;
      running = { threads: created };
      const now = () => ctx.node.now();
      await scheduleSweep(ctx.jobs, ctx.logger, now, {
        what: 'comments retention sweep',
        every: () => ctx.config.sweepInterval,
        run: async () => ({ keys: await store.sweep(ctx.config.idempotencyTtl) }),
      });
      await scheduleSweep(ctx.jobs, ctx.logger, now, {
        kind: 'deadlines',
        what: 'comment deadline check',
        every: () => ctx.config.deadlineInterval,
        run: async () => ({ alerts: await deadlines.check() }),
        logAs: 'reported',
      });
      return created;
    },
    async stop() {
      running?.threads.stop();
    },
  });
}
