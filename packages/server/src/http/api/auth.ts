import { ErrorCode } from '@switchboard/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeyGrant, ApiKeyStore } from '../../auth/api-keys.js';
import type { SecurityEvents } from '../../core/security-events.js';
import { ReplyError } from '../../errors/reply-error.js';
import { tenantId } from './schemas.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant this API request acts in, set by the API key check ('' on public routes). */
    tenant: string;
    /** The id of the API key the request presented (null on public routes). */
    apiKeyId: string | null;
    /** Whether that key is an admin key. */
    apiKeyAdmin: boolean;
    /** Whether that key may only read (GET routes). */
    apiKeyReadOnly: boolean;
  }
  interface FastifyContextConfig {
    /** A route that needs no API key (the OpenAPI document). */
    public?: boolean;
    /** A route only an admin key may call; it acts on the tenant its path names. */
    admin?: boolean;
    /** A route that also reads the system scope: with `?scope=system` it takes only an admin key, and no tenant header. */
    systemScope?: boolean;
    /** A route an admin key calls without naming a tenant (it sees every tenant); a tenant key acts in its own. */
    anyTenant?: boolean;
  }
}

/** The header with which an admin key names the tenant of a request. */
export const TENANT_HEADER_NAME = 'X-Switchboard-Tenant';
const TENANT_HEADER = TENANT_HEADER_NAME.toLowerCase();
export const tenantHeader = tenantId.describe(
  'the tenant to act in: required with an admin key; with a tenant key it may only name that tenant (403 otherwise)',
);

const BEARER_RE = /^Bearer +(\S+) *$/i;

/**
 * The tenant a request acts in. A tenant key always acts in its own tenant, and naming
 * another tenant is refused (403); an admin key must name the tenant, except on admin
 * routes (the path names it) and `anyTenant` routes ('': every tenant). A read-only key is
 * refused (403, code 158) on every method but GET and HEAD.
 */
function tenantOf(req: FastifyRequest, apiKeys: ApiKeyStore, scope: 'admin' | 'any' | 'tenant', security: SecurityEvents): string {
  const failed = (reason: 'missing' | 'invalid' | 'wrong_tenant' | 'not_admin' | 'read_only', grant: ApiKeyGrant | null) => {
    if (security.active) security.report({ type: 'apikey.failed', tenant: grant?.tenant ?? null, keyId: grant?.id ?? null, ip: req.ip, reason });
  };
  const auth = req.headers.authorization;
  if (auth === undefined) {
    failed('missing', null);
    throw new ReplyError(ErrorCode.Unauthorized, 'missing API key (Authorization: Bearer <key>)');
  }
  const grant = apiKeys.verify(BEARER_RE.exec(auth)?.[1]);
  if (!grant) {
    failed('invalid', null);
    throw new ReplyError(ErrorCode.Unauthorized, 'invalid API key');
  }
  req.apiKeyId = grant.id;
  req.apiKeyAdmin = grant.tenant === null;
  req.apiKeyReadOnly = grant.readOnly;
  // Deny by default: a read-only key reads (GET, HEAD) and nothing else, whatever the route.
  if (grant.readOnly && req.method !== 'GET' && req.method !== 'HEAD') {
    failed('read_only', grant);
    throw new ReplyError(ErrorCode.ReadOnlyKey, 'this API key may only read (GET routes)');
  }
  const named = req.headers[TENANT_HEADER];
  if (scope === 'admin') {
    if (grant.tenant !== null) {
      failed('not_admin', grant);
      throw new ReplyError(ErrorCode.PermissionDenied, 'this route needs an admin key');
    }
    return '';
  }
  if (grant.tenant !== null) {
    if (named !== undefined && named !== grant.tenant) {
      failed('wrong_tenant', grant);
      throw new ReplyError(ErrorCode.PermissionDenied, 'this API key belongs to another tenant');
    }
    return grant.tenant;
  }
  if (scope === 'any') return '';
  if (named === undefined) throw new ReplyError(ErrorCode.BadRequest, `an admin key must name the tenant in ${TENANT_HEADER_NAME}`);
  const parsed = tenantHeader.safeParse(named);
  if (!parsed.success) throw new ReplyError(ErrorCode.BadRequest, `${TENANT_HEADER_NAME}: not a valid tenant id`);
  return parsed.data;
}

/** Every route of this scope (and of features mounted in it) needs an API key unless marked public. */
export function requireApiKeys(app: FastifyInstance, apiKeys: ApiKeyStore, security: SecurityEvents): void {
  app.decorateRequest('tenant', '');
  app.decorateRequest('apiKeyId', null);
  app.decorateRequest('apiKeyAdmin', false);
  app.decorateRequest('apiKeyReadOnly', false);
  app.addHook('onRequest', async (req) => {
    const config = req.routeOptions.config;
    if (config.public === true) return;
    const system = config.systemScope === true && (req.query as Record<string, unknown> | undefined)?.['scope'] === 'system';
    req.tenant = tenantOf(req, apiKeys, config.admin === true || system ? 'admin' : config.anyTenant === true ? 'any' : 'tenant', security);
    if (system && req.headers[TENANT_HEADER] !== undefined)
      throw new ReplyError(ErrorCode.BadRequest, `scope=system reads the server's own figures: no ${TENANT_HEADER_NAME}`);
    if (security.active && req.apiKeyId !== null)
      security.report({ type: 'apikey.used', tenant: req.tenant === '' ? null : req.tenant, keyId: req.apiKeyId, ip: req.ip, admin: req.apiKeyAdmin });
  });
}
