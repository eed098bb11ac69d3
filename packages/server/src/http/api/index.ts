import type { FastifyInstance } from 'fastify';
import type { ApiKeyStore } from '../../auth/api-keys.js';
import type { Config } from '../../config/schema.js';
import type { NodeContext } from '../../core/context.js';
import { createError } from '../../errors/sb-error.js';
import { requireApiKeys } from './auth.js';
import { channelRoutes } from './channels.js';
import { createErrorHandler, notFoundHandler } from './errors.js';
import { historyRoutes } from './history.js';
import { useJsonBodies } from './json-body.js';
import { type OpenApiDocument, openApiDocument, openApiRoute } from './openapi.js';
import { presenceRoutes } from './presence.js';
import { publishRoutes } from './publish.js';
import { quotaRoutes } from './quotas.js';
import { type ApiRoute, mountRoute } from './route.js';
import { userRoutes } from './users.js';

/** The route table of /api/v1 for a configuration (batch and page limits appear in the schemas). */
export function apiRoutes(config: Config, document: () => OpenApiDocument): ApiRoute[] {
  return [
    ...publishRoutes(config.limits.httpBatchSize),
    ...historyRoutes(config.limits.historyPageSize),
    ...presenceRoutes(),
    ...channelRoutes(),
    ...userRoutes(),
    ...quotaRoutes(),
    openApiRoute(document),
  ];
}

/** A route declared twice (same method and path, or same operationId) is a manifest error, not a Fastify crash. */
function checkUnique(routes: readonly ApiRoute[]): void {
  const seen = new Set<string>();
  for (const r of routes) {
    for (const key of [`${r.method} ${r.url}`, `operationId ${r.operationId}`]) {
      if (seen.has(key)) throw createError('SB_ERR_FEATURE_MANIFEST', `route ${key} is declared twice`);
      seen.add(key);
    }
  }
}

/**
 * Routes of the HTTP API under /api/v1: the kernel's, then the features'. JSON bodies only,
 * an API key on every route but the OpenAPI document, every request validated by its route's
 * schemas, every route in the OpenAPI document, and every error as `{error: {code, message,
 * temporary}}`.
 */
export async function registerApi(app: FastifyInstance, node: NodeContext, apiKeys: ApiKeyStore, featureRoutes: readonly ApiRoute[] = []): Promise<void> {
  const routes = [...apiRoutes(node.config, () => document), ...featureRoutes];
  checkUnique(routes);
  const document = openApiDocument(routes);
  useJsonBodies(app, node.config.limits.maxJsonDepth);
  app.setErrorHandler(createErrorHandler(node));
  app.setNotFoundHandler(notFoundHandler);
  requireApiKeys(app, apiKeys);
  for (const route of routes) mountRoute(app, node, route);
}
