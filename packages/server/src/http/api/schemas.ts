import { CHANNEL_MAX_LENGTH, PUBLICATION_PRIORITIES, TENANT_RE, USER_RE } from '@switchboard/protocol';
import { z } from 'zod';

/**
 * Zod schemas shared by the API routes. The same schemas validate requests and
 * produce the OpenAPI document, so the two cannot drift.
 */

/** Channel names are checked by the ChannelResolver (422 with code 110 or 102), not here. */
export const channelName = z.string().min(1).max(1024).describe(`channel name, e.g. \`project:42\` (at most ${CHANNEL_MAX_LENGTH} characters by default)`);
export const userId = z.string().regex(USER_RE).describe('user id (the token `sub`)');
export const tenantId = z.string().regex(TENANT_RE);
export const idempotencyKey = z
  .string()
  .min(1)
  .max(128)
  .describe('a repeat of this key on the same channel within `timeouts.idempotency` returns the first result and is not delivered again');
/** Any JSON value. Required: a missing `data` is a mistake, not `null`. */
export const jsonData = z
  .unknown()
  .refine((v) => v !== undefined, 'Invalid input: expected a JSON value, received undefined')
  .describe('any JSON value, delivered to subscribers as is');

/** Publication tags; their count and lengths are checked against `limits.maxTags` / `maxTagLength` (422 with code 126). */
export const publicationTags = z
  .record(z.string(), z.string())
  .describe(
    'tags that subscription filters match against: a small map of strings (at most `limits.maxTags`, 16, each name and value at most `limits.maxTagLength`, 64 characters)',
  );

export const publicationPriority = z
  .enum(PUBLICATION_PRIORITIES)
  .describe("delivery priority on a congested connection (critical | high | normal | low); default the namespace's `priorities.default`");

const IDEMPOTENCY_KEY_RULE = 'Idempotency-Key: 1–128 characters, sent once';

/** The `Idempotency-Key` header of a create request: a retry with the same key answers the first result. */
export const idempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string({ error: IDEMPOTENCY_KEY_RULE })
    .min(1, IDEMPOTENCY_KEY_RULE)
    .max(128, IDEMPOTENCY_KEY_RULE)
    .optional()
    .describe('a retry with the same key answers the first result instead of creating again'),
});

export const channelParams = z.strictObject({ channel: channelName });

/** An integer in a query string: digits only, so `1e3`, `-1` and `0x10` are refused rather than guessed. */
export const queryInt = (description: string) =>
  z
    .string()
    .regex(/^\d{1,16}$/)
    .transform(Number)
    .pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER))
    .describe(description);
export const userParams = z.strictObject({ user: userId });

export const streamPosition = z.object({
  offset: z.number().int().min(0).describe('offset of the last publication in the channel'),
  epoch: z.string().describe('identifies one continuous history of the channel'),
});

export const publishResult = z.object({
  offset: z.number().int().min(1),
  epoch: z.string(),
  deduplicated: z.literal(true).optional().describe('present when the idempotency key was seen: nothing was published'),
});

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/** When a scheduled publication is due: Unix ms, or an ISO 8601 time with its zone. */
export const publishAt = z
  .union([
    z.number().int().min(0).max(8.64e15),
    z
      .string()
      .max(64)
      .transform((s, ctx) => {
        // Date.parse rolls 2031-02-30 over into March: a day the month does not have is no time.
        const [y, m, d] = s.slice(0, 10).split('-').map(Number) as [number, number, number];
        const real = new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d && m >= 1 && m <= 12;
        const ms = ISO_TIME.test(s) && real ? Date.parse(s) : Number.NaN;
        if (!Number.isSafeInteger(ms) || ms < 0) {
          ctx.addIssue({ code: 'custom', message: 'expected Unix milliseconds or an ISO 8601 time with a zone, e.g. 2030-01-01T09:00:00Z' });
          return z.NEVER;
        }
        return ms;
      }),
  ])
  .describe('publish at this time instead of now: Unix milliseconds or an ISO 8601 time with a zone (`2030-01-01T09:00:00Z`)');

/** A scheduled publication, as the publish answer (202) and the /scheduled routes show it. */
export const scheduledPublication = z.object({
  id: z.string().describe('the scheduled publication; also the idempotency key it is published with'),
  channel: z.string(),
  data: z.unknown(),
  publishAt: z.number().int().describe('Unix milliseconds it is due'),
  tags: z.record(z.string(), z.string()).optional().describe('the tags it is published with'),
  status: z.enum(['pending', 'running', 'delivered', 'failed', 'cancelled']),
  attempts: z.number().int().min(0).describe('delivery attempts started'),
  createdAt: z.number().int().describe('Unix milliseconds'),
  result: z
    .object({ offset: z.number().int().min(1), epoch: z.string() })
    .optional()
    .describe('once delivered: its place in the channel'),
  error: z.string().optional().describe('why the last attempt failed (retried after a backoff unless failed)'),
});

export const replyError = z.object({
  code: z.number().int().describe('Switchboard reply error code (see the protocol error table)'),
  message: z.string(),
  temporary: z.boolean().describe('true: the same request may succeed if retried later'),
  retryAfter: z.number().int().optional().describe('with 111 from a rate budget: milliseconds until the same request may succeed'),
  data: z.unknown().optional().describe('details to act on, e.g. `{ holder }` with 130 Locked'),
});
export type ReplyErrorBody = z.output<typeof replyError>;

export const errorResponse = z.object({ error: replyError });

/** One item of a broadcast or batch: its publish result, or why it failed. */
export const itemResult = z.union([publishResult.extend({ channel: z.string() }), z.object({ channel: z.string(), error: replyError })]);

export const publication = z.object({
  offset: z.number().int().min(1),
  time: z.number().int().describe('Unix milliseconds'),
  info: z
    .object({ user: z.string(), client: z.string(), info: z.unknown().optional().describe("the publisher's token info, when it has one") })
    .optional()
    .describe('publisher, for client publications in namespaces with publisherInfo'),
  tags: z.record(z.string(), z.string()).optional().describe('the tags it was published with, if any'),
  data: z.unknown(),
});

export const presenceDevice = z.object({
  client: z.string(),
  status: z.enum(['online', 'away', 'idle']),
  state: z.unknown(),
  since: z.number().int().describe('Unix milliseconds'),
});

export const presenceMember = z.object({
  user: z.string(),
  status: z.enum(['online', 'away', 'idle']),
  devices: z.array(presenceDevice),
});

export const emptyResult = z.object({});
