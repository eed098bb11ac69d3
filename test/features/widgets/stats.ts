import { defineFeature, defineRoute, type FeatureModule } from '@switchboard/server';
import { z } from 'zod';
import type { WidgetService } from './index.js';

/** A feature that uses the widgets service through `ctx.feature`, as a dependent feature would. */
export function widgetStatsFeature(): FeatureModule {
  let widgets: WidgetService | null = null;
  return defineFeature({
    name: 'widget-stats',
    dependsOn: ['widgets'],
    routes: () => [
      defineRoute({
        method: 'GET',
        url: '/widget-stats',
        operationId: 'widgetStats',
        tag: 'widgets',
        summary: 'How many widgets a user has',
        query: z.strictObject({ user: z.string().min(1).max(128) }),
        response: z.object({ count: z.number().int() }),
        async handler({ tenant, query }) {
          return { count: (await (widgets as WidgetService).list(tenant, query.user)).length };
        },
      }),
    ],
    start(ctx) {
      widgets = ctx.feature<WidgetService>('widgets');
    },
  });
}
