import { ErrorCode } from '@switchboard/protocol';
import { bool } from '../../config/fields.js';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { lockCommands } from './commands.js';
import { type LocksConfig, locksConfig } from './config.js';
import { Locks, type LocksApi } from './locks.js';
import { lockMetrics } from './metrics.js';
import { LOCK_MIGRATIONS } from './migrations.js';
import { lockRoutes } from './routes.js';

export type { LockEvent, LocksApi } from './locks.js';

/**
 * Locks on keys of a channel (a field, a node, a part of a record): server-granted, one
 * holder at a time with a strictly increasing fencing token per key, released when the
 * holder's connection closes (after a grace on a drop), when its node dies, or when a
 * backend lease runs out. See docs/locks.md. Its service is `LocksApi`.
 */
export function locksFeature(): FeatureModule<LocksConfig, LocksApi> {
  let running: { locks: Locks; config: LocksConfig } | null = null;
  const locks = (): Locks => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'locks are starting');
    return running.locks;
  };
  const config = (): LocksConfig => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'locks are starting');
    return running.config;
  };

  return defineFeature({
    name: 'locks',
    config: { schema: locksConfig, description: 'locks on keys of a channel' },
    namespaceOption: {
      schema: bool(false, 'clients may take locks on keys of a channel'),
      description: 'clients (with the lock capability) may take locks on keys of a channel',
    },
    // The console's demo workspace has a lock panel (`demo:plan`; the demo token may lock only there).
    namespaces: { project: { locks: true }, demo: { locks: true } },
    migrations: LOCK_MIGRATIONS,
    commands: lockCommands(locks, config),
    routes: (cfg) => lockRoutes(locks, cfg),
    hooks: {
      // The subscribe reply carries the channel's locks (`state.locks`): the SDK's view needs no second round trip.
      async onSubscribeSnapshot({ channel }) {
        if (!running || channel.options['locks'] !== true) return undefined;
        return { snapshot: await running.locks.list(channel.tenant, channel.channel) };
      },
      onConnectionLost({ client }) {
        running?.locks.connectionLost(client.id);
      },
      async onDisconnect({ client }) {
        await running?.locks.disconnected(client.id);
      },
    },
    start(ctx) {
      const created = new Locks(ctx.node, ctx.leases, ctx.messages, () => ctx.config, lockMetrics(ctx.node.metricsRegistry), ctx.logger);
      running = { locks: created, config: ctx.config };
      created.start();
      return created;
    },
    stop() {
      running?.locks.stop();
      running = null;
    },
  });
}
