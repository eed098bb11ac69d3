import { ErrorCode } from '@switchboard/protocol';
import type { FastifyInstance } from 'fastify';
import { ReplyError } from '../../errors/reply-error.js';

/**
 * One walk over a parsed value, without recursion (a hostile, deeply nested body cannot
 * exhaust the stack): its depth of nesting, and whether it holds a number that overflowed to
 * ±Infinity (JSON.parse reads `1e999` as Infinity). Arrays are walked by index and objects
 * with `for…in`, so a large batch of points costs no allocation per value.
 */
function inspect(value: unknown): { depth: number; nonFinite: boolean } {
  if (typeof value === 'number') return { depth: 0, nonFinite: !Number.isFinite(value) };
  let depth = 0;
  let nonFinite = false;
  const values: object[] = [];
  const depths: number[] = [];
  if (value !== null && typeof value === 'object') {
    values.push(value);
    depths.push(1);
  }
  const visit = (child: unknown, d: number): void => {
    if (typeof child === 'number') {
      if (!Number.isFinite(child)) nonFinite = true;
    } else if (child !== null && typeof child === 'object') {
      values.push(child);
      depths.push(d);
    }
  };
  while (values.length > 0) {
    const v = values.pop() as object;
    const d = depths.pop() as number;
    if (d > depth) depth = d;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) visit(v[i], d + 1);
    } else {
      const o = v as Record<string, unknown>;
      for (const k in o) visit(o[k], d + 1);
    }
  }
  return { depth, nonFinite };
}

/**
 * Parse a JSON body the way frames are parsed: keys such as `__proto__` stay ordinary own
 * properties (JSON.parse never touches prototypes), numbers that overflow to Infinity and
 * nesting deeper than `maxDepth` are refused with 400. An empty body is no body.
 *
 * No reviver: JSON.parse with one calls back into JS for every value, several times slower
 * on a large body (a batch of 10,000 metric points); one walk afterwards checks the same.
 */
export function parseJsonBody(text: string, maxDepth: number): unknown {
  if (text.length === 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ReplyError(ErrorCode.BadRequest, 'body is not valid JSON');
  }
  const { depth, nonFinite } = inspect(value);
  if (nonFinite) throw new ReplyError(ErrorCode.BadRequest, 'number out of range');
  if (depth > maxDepth) throw new ReplyError(ErrorCode.BadRequest, 'nesting too deep');
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
