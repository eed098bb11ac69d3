import { createServer as createHttpServer, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { ErrorCode } from '@switchboard/protocol';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ApiKeyStore } from '../auth/api-keys.js';
import type { NodeContext } from '../core/context.js';
import type { ScheduledPublications } from '../core/scheduled-publications.js';
import type { HostView } from '../observability/host-view.js';
import type { Metrics } from '../observability/metrics.js';
import type { NodeStats } from '../observability/stats.js';
import type { DemoTokenMinter } from './api/demo-token.js';
import { registerApi } from './api/index.js';
import type { ApiRoute } from './api/route.js';
import { registerConsole } from './console.js';
import { registerSdk, type SdkBuild } from './sdk.js';
import type { TlsMaterial } from './tls-files.js';

/** The node as the HTTP app sees it: its context, and readiness and metrics for the probes. */
export interface ServedNode extends NodeContext {
  readonly metrics: Metrics;
  /** The node's counters; HTTP error answers are recorded in its error log. */
  readonly stats: Pick<NodeStats, 'errorLog'>;
  readiness(): { ready: boolean; checks: Record<string, string> };
}

/**
 * The HTTP side: health, readiness, Prometheus metrics, the SDK's browser build, the web
 * console, and the API under /api/v1 (with the features' routes). Node's header and request timeouts are set from the configuration.
 * Given a certificate and key, the server is an HTTPS server (WSS upgrades on the same port).
 */
/** Fastify's default keep-alive timeout, which a server from `serverFactory` does not get by itself. */
const KEEP_ALIVE_MS = 72_000;

export async function createHttpApp(
  node: ServedNode,
  apiKeys: ApiKeyStore,
  featureRoutes: readonly ApiRoute[] = [],
  sdk: SdkBuild | null = null,
  tls: TlsMaterial | null = null,
  scheduled?: () => ScheduledPublications,
  hostView: HostView | null = null,
  demoTokens: DemoTokenMinter = null,
): Promise<FastifyInstance> {
  const { config } = node;
  // Node checks header and request timeouts every connectionsCheckingInterval (30 s by default).
  const serverOptions: ServerOptions = {
    maxHeaderSize: 16384,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(config.timeouts.httpHeaders, config.timeouts.httpRequest) / 4))),
  };
  const app = Fastify({
    logger: false,
    bodyLimit: config.limits.httpBodyBytes,
    requestTimeout: config.timeouts.httpRequest,
    // No per-socket inactivity timer (connectionTimeout): header, request and keep-alive
    // deadlines cover plain HTTP, and the timer object would outlive every WebSocket upgrade.
    connectionTimeout: 0,
    routerOptions: { maxParamLength: 1024 },
    // With TLS the same handler sits behind an HTTPS server: one port for HTTPS and WSS.
    serverFactory: (handler) => {
      const server = tls
        ? // A connection that never completes its handshake gets the header deadline, not Node's 2 minutes.
          createHttpsServer({ ...serverOptions, cert: tls.cert, key: tls.key, handshakeTimeout: config.timeouts.httpHeaders }, handler)
        : createHttpServer(serverOptions, handler);
      // What Fastify sets on a server it creates itself, and skips for a factory's: the request
      // deadline, and its keep-alive timeout (72 s) instead of Node's 5 s, which clients that reuse
      // idle sockets (fetch) race into ECONNRESET.
      server.requestTimeout = config.timeouts.httpRequest;
      server.keepAliveTimeout = KEEP_ALIVE_MS;
      return server;
    },
    // Malformed URLs and over-long parameters get our error shape, without echoing the URL.
    frameworkErrors: (err, req, reply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
      node.stats.errorLog.record(ErrorCode.BadRequest.code, null, 'http', req.method, '(invalid URL)', 'bad request: invalid URL', '');
      const body = JSON.stringify({ error: { code: ErrorCode.BadRequest.code, message: 'bad request: invalid URL', temporary: false } });
      void (reply as unknown as { code(n: number): { type(t: string): { send(b: string): void } } }).code(status).type('application/json').send(body);
    },
  });
  app.server.headersTimeout = config.timeouts.httpHeaders;
  app.server.maxHeadersCount = 100;

  app.addHook('onResponse', async (req, reply) => {
    node.metrics.observeHttp(req.routeOptions.url ?? 'unknown', reply.statusCode, reply.elapsedTime / 1000);
  });

  app.get('/healthz', async () => ({ status: 'ok', node: node.id }));
  app.get('/readyz', async (_req, reply) => {
    const own = node.readiness();
    // A worker of several answers for the host: ready only when every worker and the primary are.
    const { ready, checks } = own.ready && hostView ? await hostView.readiness() : own;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : node.draining ? 'draining' : 'unavailable', node: node.id, checks });
  });
  registerSdk(app, sdk);
  registerConsole(app, config, tls !== null);
  app.get('/metrics', async (_req, reply) => {
    const text = hostView ? await hostView.metrics() : await node.metrics.registry.metrics();
    return reply.type(node.metrics.registry.contentType).send(text);
  });

  await app.register(async (api) => registerApi(api, node, apiKeys, featureRoutes, scheduled, node.stats.errorLog, demoTokens), {
    prefix: '/api/v1',
  });
  return app;
}
