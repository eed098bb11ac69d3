import type { FastifyInstance } from 'fastify';
import type { ApiKeyStore } from '../../auth/api-keys.js';
import type { Config } from '../../config/schema.js';
import type { Node } from '../../core/node.js';
import { requireApiKeys } from './auth.js';
import { channelRoutes } from './channels.js';
import { createErrorHandler, notFoundHandler } from './errors.js';
import { historyRoutes } from './history.js';
import { useJsonBodies } from './json-body.js';
import { type OpenApiDocument, openApiDocument, openApiRoute } from './openapi.js';
import { presenceRoutes } from './presence.js';
import { publishRoutes } from './publish.js';
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
    openApiRoute(document),
  ];
}

/**
 * Routes of the HTTP API under /api/v1. JSON bodies only, an API key on every route but
 * the OpenAPI document, and every error as `{error: {code, message, temporary}}` — also for
 * feature routes, which are registered inside this scope.
 */
export async function registerApi(app: FastifyInstance, node: Node, apiKeys: ApiKeyStore): Promise<void> {
  useJsonBodies(app, node.config.limits.maxJsonDepth);
  app.setErrorHandler(createErrorHandler(node));
  app.setNotFoundHandler(notFoundHandler);
  requireApiKeys(app, apiKeys);
  const routes = apiRoutes(node.config, () => document);
  const document = openApiDocument(routes);
  for (const route of routes) mountRoute(app, node, route);
}
