import { ErrorCode, jsonDepth } from '@switchboard/protocol';
import type { FastifyInstance } from 'fastify';
import { ReplyError } from '../../errors/reply-error.js';

class NonFiniteNumber extends Error {}

function rejectNonFinite(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new NonFiniteNumber();
  return value;
}

/**
 * Parse a JSON body the way frames are parsed: keys such as `__proto__` stay ordinary own
 * properties (JSON.parse never touches prototypes), numbers that overflow to Infinity and
 * nesting deeper than `maxDepth` are refused with 400. An empty body is no body.
 */
export function parseJsonBody(text: string, maxDepth: number): unknown {
  if (text.length === 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text, rejectNonFinite);
  } catch (err) {
    const detail = err instanceof NonFiniteNumber ? 'number out of range' : 'body is not valid JSON';
    throw new ReplyError(ErrorCode.BadRequest, detail);
  }
  if (jsonDepth(value, maxDepth) > maxDepth) throw new ReplyError(ErrorCode.BadRequest, 'nesting too deep');
  return value;
}

/** Accept only JSON bodies in this scope (415 for anything else); Fastify's bodyLimit still applies. */
export function useJsonBodies(app: FastifyInstance, maxDepth: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string, maxDepth));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
