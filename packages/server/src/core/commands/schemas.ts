import { z } from 'zod';

/** Shared pieces of command params schemas. Channel names (length included) are checked by the resolver: 110. */
export const channelParam = z.string();
export const positionParam = z.strictObject({
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  epoch: z.string().max(64),
});
export const idempotencyKeyParam = z.string().min(1).max(128);
/** Publication tags: string to string (count and lengths are checked against the limits: 124). */
export const tagsParam = z.record(z.string(), z.string());
/** True when every number in a parsed JSON value is finite (`1e400` parses to Infinity). Iterative. */
export function allNumbersFinite(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number' && !Number.isFinite(v)) return false;
    if (v !== null && typeof v === 'object') for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push(child);
  }
  return true;
}

/** Any JSON value with finite numbers; size and depth are checked separately. */
export const jsonParam = z.unknown().refine(allNumbersFinite, 'numbers must be finite');

/** Serialise a client-supplied JSON value once, for storage and fan-out. */
export function toJsonText(value: unknown): string {
  return value === undefined ? 'null' : JSON.stringify(value);
}
