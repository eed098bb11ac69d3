import { ErrorCode } from '@switchboard/protocol';
import { defineCommand, defineFeature, defineRoute, type FeatureModule, type Identity, int, ReplyError } from '@switchboard/server';
import { z } from 'zod';
import { WIDGET_MIGRATIONS } from './migrations.js';
import { WidgetStore } from './store.js';

/**
 * A feature written only against the public API, to prove one manifest carries it: a config
 * section (`widgets.maxPerUser`), a default namespace (`widgets`), a migration and table, a
 * command (`widgets.add`), a route (GET /widgets), a hook (subscribing to `widgets:{name}`
 * needs that widget to exist) and a service for dependents.
 */

export const widgetsConfig = z.strictObject({
  maxPerUser: int(3, 1, 1000, 'widgets one user may add'),
});
export type WidgetsConfig = z.output<typeof widgetsConfig>;

/** What features that depend on `widgets` get from `ctx.feature('widgets')`. */
export interface WidgetService {
  list(tenant: string, user: string): Promise<string[]>;
}

const widgetName = z.string().regex(/^[a-z0-9-]{1,32}$/);

export function widgetsFeature(): FeatureModule<WidgetsConfig, WidgetService> {
  let running: { store: WidgetStore; config: WidgetsConfig } | null = null;
  const state = () => {
    if (!running) throw new ReplyError(ErrorCode.Unavailable, 'widgets are starting');
    return running;
  };

  return defineFeature({
    name: 'widgets',
    config: { schema: widgetsConfig, description: 'widgets (test feature)' },
    namespaces: { widgets: { subscribe: 'authenticated', clientPublish: false, presence: false } },
    migrations: WIDGET_MIGRATIONS,
    errors: { SB_ERR_WIDGETS_CONFIG: 'widgets misconfigured' },
    commands: [
      defineCommand({
        method: 'widgets.add',
        params: z.strictObject({ name: widgetName }),
        async handler({ client }, p) {
          const { tenant, user } = client.identity as Identity;
          const { store, config } = state();
          if ((await store.list(tenant, user)).length >= config.maxPerUser)
            throw new ReplyError(ErrorCode.LimitExceeded, `at most ${config.maxPerUser} widgets`);
          await store.add(tenant, user, p.name);
          return { name: p.name };
        },
      }),
    ],
    routes: (config) => [
      defineRoute({
        method: 'GET',
        url: '/widgets',
        operationId: 'listWidgets',
        tag: 'widgets',
        summary: `A user's widgets (at most ${config.maxPerUser})`,
        query: z.strictObject({ user: z.string().min(1).max(128) }),
        response: z.object({ widgets: z.array(z.string()) }),
        async handler({ tenant, query }) {
          return { widgets: await state().store.list(tenant, query.user) };
        },
      }),
    ],
    hooks: {
      async beforeSubscribe({ client, channel }) {
        if (channel.namespace !== 'widgets') return;
        const tenant = client.identity?.tenant ?? '';
        if (!(await state().store.exists(tenant, channel.name))) throw new ReplyError(ErrorCode.PermissionDenied, `no widget ${channel.name}`);
      },
    },
    start(ctx) {
      if (ctx.config.maxPerUser === 999) throw ctx.error('SB_ERR_WIDGETS_CONFIG', 'maxPerUser 999 is reserved');
      const store = new WidgetStore(ctx.storage);
      running = { store, config: ctx.config };
      return { list: (tenant, user) => store.list(tenant, user) };
    },
    stop() {
      running = null;
    },
  });
}
