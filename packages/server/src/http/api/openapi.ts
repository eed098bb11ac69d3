import { z } from 'zod';
import { TENANT_HEADER_NAME, tenantHeader } from './auth.js';
import { type ApiRoute, defineRoute } from './route.js';
import { errorResponse } from './schemas.js';

type JsonSchema = Record<string, unknown>;

/** A type, not an interface, so it is assignable to the route's record-shaped response. */
export type OpenApiDocument = {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: Array<{ url: string }>;
  security: Array<Record<string, string[]>>;
  tags: Array<{ name: string }>;
  paths: Record<string, Record<string, JsonSchema>>;
  components: { securitySchemes: Record<string, JsonSchema>; schemas: Record<string, JsonSchema> };
};

/** Prefix under which the HTTP app mounts the API. */
export const API_PREFIX = '/api/v1';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request: the message names the invalid field (code 107)',
  401: 'Missing or invalid API key (code 101)',
  403: 'The API key belongs to another tenant, or a tenant key called a route for admin keys only (code 103), or a read-only key called a route that changes something (code 158)',
  404: "Not found, or another tenant's (code 117)",
  409: "Conflict with the resource's state: a channel's new epoch (code 112), a scheduled publication no longer pending (code 124)",
  413: 'Body or publication too large (code 114)',
  415: 'The body is not application/json (code 107)',
  422: 'Invalid channel (110), unknown namespace (102), action disabled in the namespace (108), payload schema (119), limit or quota reached (106) or schedule (123)',
  429: "Too many requests: the tenant's publish quota (code 111) or metric ingest budget (code 145); Retry-After and retryAfter say when to retry",
  500: 'Unexpected server error (code 100)',
  503: 'Shutting down or a backing store is unreachable; retry (code 116)',
};

/**
 * Draft 2020-12 JSON Schema, which OpenAPI 3.1 embeds as is. The input side: what a request
 * may send, and for responses objects stay open, so adding a field later breaks no client.
 */
function jsonSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as JsonSchema;
  return rest;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query' | 'header'): JsonSchema[] {
  if (!schema) return [];
  const js = jsonSchema(schema);
  const required = new Set((js['required'] as string[] | undefined) ?? []);
  return Object.entries((js['properties'] as Record<string, JsonSchema> | undefined) ?? {}).map(([name, s]) => {
    const { description, ...rest } = s;
    return { name, in: where, required: where === 'path' || required.has(name), ...(description ? { description } : {}), schema: rest };
  });
}

/** Error statuses implied by how the route is built, plus those it declares. */
function errorStatuses(route: ApiRoute): number[] {
  const statuses = new Set<number>([500, ...(route.errors ?? [])]);
  if (route.params || route.query || route.body) statuses.add(400);
  if (route.body) for (const s of [413, 415]) statuses.add(s);
  if (!route.public) for (const s of [400, 401, 403]) statuses.add(s);
  return [...statuses].sort();
}

function operation(route: ApiRoute): JsonSchema {
  const params = [...parameters(route.params, 'path'), ...parameters(route.query, 'query'), ...parameters(route.headers, 'header')];
  if (!route.public && !route.admin && !route.anyTenant) {
    const { description, ...schema } = jsonSchema(tenantHeader);
    params.push({ name: TENANT_HEADER_NAME, in: 'header', required: false, description, schema });
  }
  const ok = { content: { 'application/json': { schema: jsonSchema(route.response) } } };
  const responses: Record<string, JsonSchema> = route.created
    ? { 200: { description: 'OK: nothing new was created (e.g. a repeated idempotency key)', ...ok }, 201: { description: 'Created', ...ok } }
    : { 200: { description: 'OK', ...ok } };
  if (route.accepted) responses[202] = { description: 'Accepted: carried out later (a scheduled publication, a webhook test or replay)', ...ok };
  for (const status of errorStatuses(route)) {
    responses[status] = { description: STATUS_TEXT[status] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    ...(route.public ? { security: [] } : {}),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: !route.body.safeParse(undefined).success,
            content: { 'application/json': { schema: jsonSchema(route.body) } },
          },
        }
      : {}),
    responses,
  };
}

/** The OpenAPI 3.1 document of a route table, from the same zod schemas that validate the routes. */
export function openApiDocument(routes: readonly ApiRoute[]): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z_]\w*)/g, '{$1}');
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchboard HTTP API',
      version: '1',
      description: `Publish, read history and presence, and manage users from an app backend. Authenticate with \`Authorization: Bearer <API key>\`; an admin key names the tenant in \`${TENANT_HEADER_NAME}\`. Errors are \`{"error": {"code", "message", "temporary"}}\`.`,
    },
    servers: [{ url: API_PREFIX }],
    security: [{ apiKey: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an API key created with `switchboard apikey`' } },
      schemas: { Error: jsonSchema(errorResponse) },
    },
  };
}

/** GET /openapi.json: public, like any API description; it holds no tenant data. */
export function openApiRoute(document: () => OpenApiDocument): ApiRoute {
  return defineRoute({
    method: 'GET',
    url: '/openapi.json',
    operationId: 'openapi',
    tag: 'meta',
    summary: 'This OpenAPI 3.1 document',
    public: true,
    response: z.looseObject({ openapi: z.literal('3.1.0'), paths: z.record(z.string(), z.unknown()) }),
    async handler() {
      return document();
    },
  });
}
