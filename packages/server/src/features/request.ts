import { ErrorCode } from '@switchboard/protocol';
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ReplyError } from '../core/reply-error.js';
import { validate } from '../http/api/route.js';

/**
 * What feature routes read from an API request. Features mount their routes inside the
 * /api/v1 scope, whose API-key check sets `req.tenant` and whose error handler answers
 * every ReplyError as `{error: {code, message, temporary}}`.
 */

/** The tenant of the request (from the API key, or the admin key's X-Switchboard-Tenant). */
export function requestTenant(req: FastifyRequest): string {
  if (!req.tenant) throw new ReplyError(ErrorCode.Unauthorized, 'missing API key (Authorization: Bearer <key>)');
  return req.tenant;
}

/** The `Idempotency-Key` header, if any (1–128 characters). */
export function idempotencyHeader(req: FastifyRequest): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 128) throw new ReplyError(ErrorCode.BadRequest, 'Idempotency-Key: 1–128 characters, sent once');
  return raw;
}

/** Validate one part of the request; the first problem, with its path, is the 400 message. */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, where: 'params' | 'query' | 'body'): z.output<S> {
  return validate(schema, value, where) as z.output<S>;
}
