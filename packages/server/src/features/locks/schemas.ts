import { ErrorCode, jsonDepth, USER_RE } from '@switchboard/protocol';
import { z } from 'zod';
import { ReplyError } from '../../errors/reply-error.js';
import type { LocksConfig } from './config.js';

/** Nesting allowed in lock attributes. */
const MAX_ATTRIBUTE_DEPTH = 8;

export const channelName = z.string().min(1).max(1024);
/** A lock key as the edge accepts it; `maxKeyBytes` (default 128) is checked after, with 114. */
export const lockKey = z.string().min(1).max(4096);
export const userId = z.string().regex(USER_RE, 'not a valid user id (1–128 printable ASCII characters, no ":" or spaces)');
export const fencingToken = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

const holder = z.object({
  user: z.string(),
  client: z.string().optional().describe('the holding connection; absent for a backend lease'),
  attributes: z.unknown().optional(),
});

export const lockInfoSchema = z.object({
  key: z.string(),
  holder,
  fencingToken: z.number().int().describe('strictly increasing per (tenant, channel, key): present it on every guarded write'),
  expiresAt: z.number().int().nullable().describe('Unix ms; null while a connection holds the lock'),
});

/** 114 for a key or attributes over the configured caps, 107 for attributes nested too deep. */
export function checkLockInput(config: LocksConfig, key: string, attributes: unknown): void {
  if (Buffer.byteLength(key, 'utf8') > config.maxKeyBytes) throw new ReplyError(ErrorCode.PayloadTooLarge, `lock key above ${config.maxKeyBytes} bytes`);
  if (attributes === undefined) return;
  if (jsonDepth(attributes, MAX_ATTRIBUTE_DEPTH) > MAX_ATTRIBUTE_DEPTH)
    throw new ReplyError(ErrorCode.BadRequest, `attributes nested deeper than ${MAX_ATTRIBUTE_DEPTH}`);
  if (Buffer.byteLength(JSON.stringify(attributes), 'utf8') > config.maxAttributesBytes)
    throw new ReplyError(ErrorCode.PayloadTooLarge, `attributes above ${config.maxAttributesBytes} bytes of JSON`);
}
