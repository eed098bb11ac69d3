import { z } from 'zod';
import { parseDuration } from '../../config/duration.js';
import { duration, int, stringList } from '../../config/fields.js';

/** The Standard Webhooks retry schedule: the wait before each attempt after the first. */
export const STANDARD_SCHEDULE = ['5s', '5m', '30m', '2h', '5h', '10h', '14h', '20h', '24h'];

const schedule = stringList()
  .refine((list) => list.every((d) => parseDuration(d) !== null), 'expected durations such as 5s, 5m, 2h')
  .default(STANDARD_SCHEDULE)
  .describe(
    'waits before each retry after the first attempt (jittered ±20 %); attempts = retries + 1 (default the Standard Webhooks schedule: 5s,5m,30m,2h,5h,10h,14h,20h,24h)',
  );

/** Options of webhooks, at `webhooks` in the config (see docs/webhooks.md). */
export const webhooksConfig = z.strictObject({
  maxEndpoints: int(10, 0, 10_000, 'webhook endpoints per tenant'),
  maxUrlLength: int(2048, 16, 65_536, 'longest endpoint URL, characters'),
  timeout: duration('15s', 'deadline of one delivery attempt, from connect to the end of the answer; a 2xx within it is success'),
  concurrency: int(10, 1, 1000, 'attempts in flight per endpoint on one node'),
  retrySchedule: schedule,
  disableAfter: duration('5d', 'an endpoint whose deliveries have failed for this long, without a 2xx between, is disabled'),
  probeInterval: duration(
    '30s',
    'while an endpoint fails, its oldest pending message is tried again this often, outside its schedule; its first 2xx makes every pending message due',
  ),
  rotationOverlap: duration('24h', 'after a secret rotation, requests carry the old signature too for this long'),
  keepMessages: duration('30d', 'delivered and failed messages are deleted after this'),
  lifecycleGrace: duration(
    '3s',
    'channel.vacated and presence.left wait this long after the last member left; a member back within it cancels them (a page refresh sends nothing)',
  ),
  endpoints: z
    .array(
      z.strictObject({
        id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected an id of A-Z a-z 0-9 _ - (1 to 64 characters)'),
        tenant: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a tenant id'),
        url: z.string().min(1),
        events: z.array(z.string().min(1).max(100)).min(1).max(100),
        channels: z.array(z.string().min(1).max(200)).max(50).default([]),
        description: z.string().max(500).default(''),
        batch: z
          .strictObject({ windowMs: z.number().int().min(10).max(60_000), maxEvents: z.number().int().min(2).max(1000) })
          .nullable()
          .default(null),
        secret: z
          .string()
          .refine(
            (s) => /^whsec_[A-Za-z0-9+/]+={0,2}$/.test(s) && Buffer.from(s.slice(6), 'base64').length >= 24,
            'expected whsec_ and the base64 of 24 or more random bytes',
          ),
      }),
    )
    .default([])
    .describe(
      'endpoints declared by the operator as {id, tenant, url, events, channels, description, batch, secret} (config file or JSON): created or brought in line at start, deleted once removed from here; the API lists them (declared: true) and cannot change or delete them',
    ),
  allowNetworks: stringList()
    .default([])
    .describe(
      'CIDR ranges of loopback or private networks endpoints may resolve to (e.g. 127.0.0.1/32 for a receiver on the same host); link-local and metadata addresses are always refused (default none)',
    ),
});

export type WebhooksConfig = z.output<typeof webhooksConfig>;
