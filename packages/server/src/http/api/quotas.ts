import { z } from 'zod';
import { QUOTA_NAMES, tenantQuotasSchema } from '../../config/schema.js';
import { type ApiRoute, defineRoute } from './route.js';
import { tenantId } from './schemas.js';

const tenantParams = z.strictObject({ tenant: tenantId.describe('the tenant whose quotas these are') });
const quotaSet = z.object(Object.fromEntries(QUOTA_NAMES.map((n) => [n, z.number().int().optional()])));
const quotaSources = z.object({
  tenant: z.string(),
  config: quotaSet.describe("the config file's quotas of the tenant (tenants.<id>.quotas)"),
  stored: quotaSet.describe('the quotas stored over this API: they win over the config file, key by key'),
  effective: z
    .object(Object.fromEntries(QUOTA_NAMES.map((n) => [n, z.number().int().nullable()])))
    .describe('each quota as it applies: stored, else configured, else the global limit; null: no limit'),
});

const PRECEDENCE =
  'A stored quota wins over the config file, key by key; an absent one means the global limit (or none). Every node applies a change within a moment, without a restart.';

/** A tenant's quotas, for admin keys only: a tenant key cannot read or raise its own. */
export function quotaRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/tenants/:tenant/quotas',
      operationId: 'getTenantQuotas',
      tag: 'tenants',
      summary: "A tenant's quotas: configured, stored and in effect (admin key)",
      description: PRECEDENCE,
      admin: true,
      params: tenantParams,
      response: quotaSources,
      async handler({ node, params }) {
        return node.quotas.sources(params.tenant);
      },
    }),
    defineRoute({
      method: 'PUT',
      url: '/tenants/:tenant/quotas',
      operationId: 'setTenantQuotas',
      tag: 'tenants',
      summary: "Replace a tenant's stored quotas (admin key)",
      description: `The body is the whole stored set: a key left out is no longer stored. ${PRECEDENCE}`,
      admin: true,
      params: tenantParams,
      body: tenantQuotasSchema,
      response: quotaSources,
      errors: [503],
      async handler({ node, params, body, actor }) {
        const stored = await node.quotas.store(params.tenant, body);
        if (node.security.active)
          node.security.report({
            type: 'admin.quotas_changed',
            tenant: params.tenant,
            actor,
            target: { tenant: params.tenant, keys: Object.keys(body).length },
          });
        return stored;
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/tenants/:tenant/quotas',
      operationId: 'removeTenantQuotas',
      tag: 'tenants',
      summary: "Remove a tenant's stored quotas: the config file's apply again (admin key)",
      admin: true,
      params: tenantParams,
      response: quotaSources,
      errors: [503],
      async handler({ node, params, actor }) {
        const stored = await node.quotas.store(params.tenant, {});
        if (node.security.active)
          node.security.report({ type: 'admin.quotas_changed', tenant: params.tenant, actor, target: { tenant: params.tenant, keys: 0 } });
        return stored;
      },
    }),
  ];
}
