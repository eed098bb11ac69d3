import { ErrorCode } from '@switchboard/protocol';
import type { FastifyInstance } from 'fastify';
import type { ApiKeyStore } from '../../auth/api-keys.js';
import type { Config } from '../../config/schema.js';
import type { NodeContext } from '../../core/context.js';
import type { ScheduledPublications } from '../../core/scheduled-publications.js';
import { ReplyError } from '../../errors/reply-error.js';
import { createError } from '../../errors/sb-error.js';
import { ErrorLog } from '../../observability/error-log.js';
import { requireApiKeys } from './auth.js';
import { channelRoutes } from './channels.js';
import { connectionRoutes } from './connections.js';
import { type ConsoleMint, consoleTokenRoutes } from './console-token.js';
import { DEMO_TOKEN_PATH, demoEnabled, demoTokenRoutes } from './demo-token.js';
import { errorRoutes } from './error-record.js';
import { createErrorHandler, notFoundHandler } from './errors.js';
import { historyRoutes } from './history.js';
import { useJsonBodies } from './json-body.js';
import { type OpenApiDocument, openApiDocument, openApiRoute } from './openapi.js';
import { presenceRoutes } from './presence.js';
import { publishRoutes } from './publish.js';
import { quotaRoutes } from './quotas.js';
import { type ApiRoute, mountRoute } from './route.js';
import { scheduledRoutes } from './scheduled.js';
import { userRoutes } from './users.js';

const notScheduling = (): ScheduledPublications => {
  throw new ReplyError(ErrorCode.Unavailable, 'scheduled publications are not running');
};

/**
 * The route table of /api/v1 for a configuration (batch and page limits appear in the
 * schemas; the demo token route only while the demo is on); `scheduled` gives the node's
 * scheduled publications once it started, `mint` the signer of the console's connection tokens
 * and of the demo workspace's (null: the server has no HMAC secret).
 */
export function apiRoutes(
  config: Config,
  document: () => OpenApiDocument,
  scheduled: () => ScheduledPublications = notScheduling,
  mint: () => ConsoleMint = () => null,
  now: () => number = Date.now,
): ApiRoute[] {
  return [
    ...publishRoutes(config.limits.httpBatchSize, scheduled),
    ...scheduledRoutes(scheduled),
    ...historyRoutes(config.limits.historyPageSize),
    ...presenceRoutes(),
    ...channelRoutes(),
    ...userRoutes(),
    ...connectionRoutes(),
    ...errorRoutes(),
    ...quotaRoutes(),
    ...consoleTokenRoutes(mint, config.auth.maxTokenLifetime),
    ...demoTokenRoutes(config, mint(), now),
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
export async function registerApi(
  app: FastifyInstance,
  node: NodeContext,
  apiKeys: ApiKeyStore,
  featureRoutes: readonly ApiRoute[] = [],
  scheduled: () => ScheduledPublications = notScheduling,
  errorLog: ErrorLog = new ErrorLog(),
  mint: ConsoleMint = null,
): Promise<void> {
  const routes = [
    ...apiRoutes(
      node.config,
      () => document,
      scheduled,
      () => mint,
      () => node.now(),
    ),
    ...featureRoutes,
  ];
  checkUnique(routes);
  const document = openApiDocument(routes);
  useJsonBodies(app, node.config.limits.maxJsonDepth);
  app.setErrorHandler(createErrorHandler(node, errorLog));
  const notFound = notFoundHandler(errorLog);
  app.setNotFoundHandler(notFound);
  requireApiKeys(app, apiKeys, node.security);
  for (const route of routes) mountRoute(app, node, route);
  // With the demo off its token route is an unknown one, with or without a key: the plain 404
  // (not the 401 an unknown route gets without a key), and nothing in the OpenAPI document.
  if (!demoEnabled(node.config)) app.post(DEMO_TOKEN_PATH, { config: { public: true } }, notFound);
}
