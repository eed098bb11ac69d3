import { z } from 'zod';

/** Shared pieces of command params schemas. Channel names are checked by the resolver. */
export const channelParam = z.string().max(1024);
export const positionParam = z.strictObject({
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  epoch: z.string().max(64),
});
export const idempotencyKeyParam = z.string().min(1).max(128);
/** Any JSON value; size and depth are checked separately. */
export const jsonParam = z.unknown();

/** Serialise a client-supplied JSON value once, for storage and fan-out. */
export function toJsonText(value: unknown): string {
  return value === undefined ? 'null' : JSON.stringify(value);
}
