import { ErrorCode } from '@switchboard/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { NodeContext } from '../../core/context.js';
import { RawJson } from '../../core/encode.js';
import type { Actor } from '../../core/security-events.js';
import { ReplyError } from '../../errors/reply-error.js';

type Schema = z.ZodType;
type Out<S> = S extends Schema ? z.output<S> : undefined;

export interface RouteContext<P, Q, B, H = undefined> {
  node: NodeContext;
  /** The tenant the request acts in (from the API key, or the admin key's tenant header). */
  tenant: string;
  params: P;
  query: Q;
  body: B;
  /** The headers the route declares, validated (names in lower case). */
  headers: H;
  /** Who asks: the API key's id (null on public routes) and the peer's address; what admin actions name as their actor. */
  actor: Actor;
  /** The API key's kind: an admin key (tenant '' on `anyTenant` routes: every tenant), and whether it may only read. */
  key: { admin: boolean; readOnly: boolean };
}

/**
 * One API route: its zod schemas validate the request and describe it in the OpenAPI
 * document. Paths are relative to /api/v1, in Fastify's `:param` syntax.
 */
export interface RouteSpec<
  R extends Schema,
  P extends Schema | undefined,
  Q extends Schema | undefined,
  B extends Schema | undefined,
  H extends Schema | undefined = undefined,
> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** No API key needed. */
  public?: boolean;
  /** Only an admin key (no tenant header needed; a tenant key gets 403): settings of tenants themselves. */
  admin?: boolean;
  /**
   * The route also reads the system scope (the server's own figures): with the query parameter
   * `scope=system` it takes only an admin key (no key 401, a tenant key 403) and no tenant
   * header, and its handler sees the tenant ''. The query schema declares `scope`.
   */
  systemScope?: boolean;
  /**
   * An admin key needs no tenant header and acts over every tenant (`tenant` is ''; the
   * handler narrows it); a tenant key acts in its own tenant as everywhere.
   */
  anyTenant?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * Validates the body in place of `body` (which still describes it in the OpenAPI document):
   * a fast path for large bodies, which answers exactly as validating with `body` would.
   */
  parseBody?: (value: unknown) => Out<B>;
  /** Largest request body, bytes, when the route's differs from `limits.httpBodyBytes`: refused with 413 while the body is read. */
  bodyLimit?: number;
  /** Request headers the route reads, as an object schema with lower-case names; others pass. */
  headers?: H;
  response: R;
  /** Answer 201 instead of 200 when this says the result created something (also documented). */
  created?: (result: z.output<R>) => boolean;
  /** Answer 202 instead of 200 when this says the request was accepted for later (also documented). */
  accepted?: (result: z.output<R>) => boolean;
  /** Statuses this route answers beyond those implied by its schemas and auth (e.g. 422, 503). */
  errors?: readonly number[];
  /** Returns the response body; a RawJson is sent as is (history splices stored payloads). */
  handler(ctx: RouteContext<Out<P>, Out<Q>, Out<B>, Out<H>>): Promise<z.output<R> | RawJson>;
}

export type ApiRoute = RouteSpec<Schema, Schema | undefined, Schema | undefined, Schema | undefined, Schema | undefined>;

/**
 * The tenant an `anyTenant` route reads for the tenant a query names: an admin key reads the
 * named tenant, or every tenant (null) when none is named; a tenant key reads its own, and
 * naming another is refused (403, code 103).
 */
export function readableTenant(key: { admin: boolean }, tenant: string, named: string | undefined): string | null {
  if (key.admin) return named ?? null;
  if (named !== undefined && named !== tenant) throw new ReplyError(ErrorCode.PermissionDenied, 'this API key belongs to another tenant');
  return tenant;
}

/** Define a route with its handler's params, query and body types inferred from the schemas. */
export function defineRoute<
  R extends Schema,
  P extends Schema | undefined = undefined,
  Q extends Schema | undefined = undefined,
  B extends Schema | undefined = undefined,
  H extends Schema | undefined = undefined,
>(spec: RouteSpec<R, P, Q, B, H>): ApiRoute {
  return spec as unknown as ApiRoute;
}

/** Validate one part of the request; the first zod issue, with its path, becomes the 400 message. */
export function validate(schema: Schema | undefined, value: unknown, where: 'params' | 'query' | 'body' | 'headers'): unknown {
  if (!schema) return undefined;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = [where, ...(issue?.path ?? []).map(String)].join('.');
  throw new ReplyError(ErrorCode.BadRequest, `${path}: ${issue?.message ?? 'invalid'}`.slice(0, 300));
}

export function mountRoute(app: FastifyInstance, node: NodeContext, route: ApiRoute): void {
  app.route({
    method: route.method,
    url: route.url,
    config: { public: route.public === true, admin: route.admin === true, systemScope: route.systemScope === true, anyTenant: route.anyTenant === true },
    ...(route.bodyLimit !== undefined ? { bodyLimit: route.bodyLimit } : {}),
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const headers = validate(route.headers, req.headers, 'headers');
      const result = await route.handler({
        node,
        tenant: req.tenant,
        actor: { keyId: req.apiKeyId, ip: req.ip },
        key: { admin: req.apiKeyAdmin, readOnly: req.apiKeyReadOnly },
        headers,
        params: validate(route.params, req.params, 'params'),
        query: validate(route.query, req.query, 'query'),
        body: route.parseBody ? route.parseBody(req.body) : validate(route.body, req.body, 'body'),
      });
      if (result instanceof RawJson) return reply.type('application/json; charset=utf-8').send(result.text);
      if (route.created?.(result)) void reply.code(201);
      else if (route.accepted?.(result)) void reply.code(202);
      return result;
    },
  });
}
