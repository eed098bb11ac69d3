import { ErrorCode, type Tags } from '@switchboard/protocol';
import type { Config } from '../config/schema.js';
import { ReplyError } from '../errors/reply-error.js';
import type { ResolvedChannel } from './channels.js';

/** Whether a publication's tags match a subscription's filter. Compiled once per subscription. */
export type TagPredicate = (tags: Tags | undefined) => boolean;

type Limits = Config['limits'];

const OPERATORS = 'one of "tags", "and", "or", "not"';

function invalid(path: string, problem: string): never {
  throw new ReplyError(ErrorCode.InvalidFilter, `${path}: ${problem}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Counts the tag values compared so far, against `limits.maxFilterLeaves`. */
interface Budget {
  leaves: number;
}

/**
 * Check a subscribe's `filter` against the grammar and the limits, and compile it to a
 * predicate: a typed error (125 InvalidFilter) names the first problem and where it is.
 * A namespace without tags refuses any filter (108).
 */
export function compileFilter(ch: ResolvedChannel, value: unknown, limits: Limits): TagPredicate {
  if (!ch.options.tags) throw new ReplyError(ErrorCode.NotAvailable, `tags are off in namespace ${ch.namespace}`);
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (bytes > limits.maxFilterBytes) invalid('filter', `${bytes} bytes, more than ${limits.maxFilterBytes}`);
  return compile(value, 'filter', 1, { leaves: 0 }, limits);
}

function compile(node: unknown, path: string, depth: number, budget: Budget, limits: Limits): TagPredicate {
  if (depth > limits.maxFilterDepth) invalid(path, `nested deeper than ${limits.maxFilterDepth}`);
  if (!isObject(node)) invalid(path, `expected an object with ${OPERATORS}`);
  const keys = Object.keys(node);
  if (keys.length !== 1) invalid(path, `expected exactly ${OPERATORS}, got ${keys.length} keys`);
  const op = keys[0] as string;
  const arg = node[op];
  switch (op) {
    case 'tags':
      return compileTags(arg, `${path}.tags`, budget, limits);
    case 'not': {
      const inner = compile(arg, `${path}.not`, depth + 1, budget, limits);
      return (tags) => !inner(tags);
    }
    case 'and':
    case 'or': {
      if (!Array.isArray(arg) || arg.length === 0) invalid(`${path}.${op}`, 'expected a non-empty array of filters');
      const parts = arg.map((f, i) => compile(f, `${path}.${op}[${i}]`, depth + 1, budget, limits));
      return op === 'and' ? allOf(parts) : anyOf(parts);
    }
    default:
      return invalid(path, `unknown key ${JSON.stringify(op.slice(0, 32))}, expected ${OPERATORS}`);
  }
}

function compileTags(arg: unknown, path: string, budget: Budget, limits: Limits): TagPredicate {
  if (!isObject(arg)) invalid(path, 'expected an object of tag names to a value or a list of values');
  const names = Object.keys(arg);
  if (names.length === 0) invalid(path, 'expected at least one tag');
  const parts: TagPredicate[] = [];
  for (const name of names) {
    const at = `${path}.${name.slice(0, limits.maxTagLength)}`;
    if (name.length === 0 || name.length > limits.maxTagLength) invalid(at, `tag names are 1 to ${limits.maxTagLength} characters`);
    const want = arg[name];
    const values = typeof want === 'string' ? [want] : want;
    if (!Array.isArray(values) || values.length === 0) invalid(at, 'expected a string or a non-empty array of strings');
    for (const v of values) {
      if (typeof v !== 'string') invalid(at, 'expected a string or a non-empty array of strings');
      if (v.length > limits.maxTagLength) invalid(at, `tag values are at most ${limits.maxTagLength} characters`);
    }
    budget.leaves += values.length;
    if (budget.leaves > limits.maxFilterLeaves) invalid(at, `compares more than ${limits.maxFilterLeaves} tag values`);
    parts.push(oneOf(name, values as string[]));
  }
  return allOf(parts);
}

// Inherited properties of a tags object are never strings, so `tags[name] === value` needs no own-property check.
function oneOf(name: string, values: string[]): TagPredicate {
  if (values.length === 1) {
    const value = values[0] as string;
    return (tags) => tags !== undefined && tags[name] === value;
  }
  const set = new Set(values);
  return (tags) => {
    const v = tags?.[name];
    return typeof v === 'string' && set.has(v);
  };
}

function allOf(parts: TagPredicate[]): TagPredicate {
  if (parts.length === 1) return parts[0] as TagPredicate;
  return (tags) => {
    for (const p of parts) if (!p(tags)) return false;
    return true;
  };
}

function anyOf(parts: TagPredicate[]): TagPredicate {
  if (parts.length === 1) return parts[0] as TagPredicate;
  return (tags) => {
    for (const p of parts) if (p(tags)) return true;
    return false;
  };
}

/**
 * Check a publication's tags against the namespace and the limits (126 InvalidTags naming
 * the problem; 108 where the namespace has tags off). Types are checked at the edge.
 */
export function checkTags(ch: ResolvedChannel, tags: Tags, limits: Limits): Tags {
  if (!ch.options.tags) throw new ReplyError(ErrorCode.NotAvailable, `tags are off in namespace ${ch.namespace}`);
  const names = Object.keys(tags);
  if (names.length > limits.maxTags) throw new ReplyError(ErrorCode.InvalidTags, `${names.length} tags, more than ${limits.maxTags}`);
  for (const name of names) {
    const shown = JSON.stringify(name.slice(0, limits.maxTagLength));
    if (name.length === 0 || name.length > limits.maxTagLength)
      throw new ReplyError(ErrorCode.InvalidTags, `tag ${shown}: names are 1 to ${limits.maxTagLength} characters`);
    if ((tags[name] as string).length > limits.maxTagLength)
      throw new ReplyError(ErrorCode.InvalidTags, `tag ${shown}: values are at most ${limits.maxTagLength} characters`);
  }
  return tags;
}
