import { z } from 'zod';
import { cursorParam, timeParam } from '../../storage/paging.js';

const eventName = z.string().min(1).max(100);
const channelPattern = z.string().min(1).max(200);

/** Opt-in batching of an endpoint: the events of `windowMs` in one request, at most `maxEvents`. */
export const batchSettings = z
  .strictObject({
    windowMs: z.number().int().min(10).max(60_000).describe('how long the first event of a batch waits for others, ms (10 to 60,000)'),
    maxEvents: z.number().int().min(2).max(1000).describe('most events in one request (2 to 1,000)'),
  })
  .describe('deliver the events of a window together as { type: "batch", timestamp, events: [{ id, type, timestamp, data }] }; null: one event per request');

export const endpointId = z.string().regex(/^whe_[0-9a-z]{1,60}$/, 'not an endpoint id');
export const idParams = z.strictObject({ id: endpointId });

export function createBody(maxUrlLength: number) {
  return z.strictObject({
    url: z.string().min(1).max(Math.max(65_536, maxUrlLength)),
    events: z.array(eventName).min(1).max(100),
    channels: z.array(channelPattern).max(50).default([]),
    description: z.string().max(500).default(''),
    batch: batchSettings.nullable().default(null),
  });
}

export function patchBody(maxUrlLength: number) {
  return z.strictObject({
    url: z.string().min(1).max(Math.max(65_536, maxUrlLength)).optional(),
    events: z.array(eventName).min(1).max(100).optional(),
    channels: z.array(channelPattern).max(50).optional(),
    description: z.string().max(500).optional(),
    batch: batchSettings.nullable().optional(),
  });
}

export const endpoint = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string(),
  events: z.array(z.string()),
  channels: z.array(z.string()),
  status: z.enum(['enabled', 'disabled']),
  disabledReason: z.string().nullable().describe('gone (the endpoint answered 410), failing (failed for webhooks.disableAfter), or null'),
  failingSince: z.number().nullable().describe('Unix ms of the first failure since the last 2xx'),
  batch: batchSettings.nullable(),
  declared: z.boolean().describe('declared in the config file (webhooks.endpoints): PATCH, DELETE and rotate-secret answer 409 (132)'),
  createdAt: z.number(),
  updatedAt: z.number(),
});

export const endpointWithSecret = endpoint.extend({ secret: z.string().describe('whsec_…: shown only in this answer') });
export const endpointList = z.object({ endpoints: z.array(endpoint) });
export const deleted = z.object({ deleted: z.literal(true) });
export const testResult = z.object({ eventId: z.string(), messageId: z.string() });

export const messageStatus = z.enum(['pending', 'delivered', 'failed']);

export const messagesQuery = z.strictObject({
  status: messageStatus.optional(),
  cursor: cursorParam.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const messagePage = z.object({
  messages: z.array(
    z.object({
      id: z.string(),
      eventId: z.string().describe('the webhook-id of its requests'),
      type: z.string(),
      status: messageStatus,
      attempts: z.array(z.object({ at: z.number(), responseStatus: z.number().nullable(), durationMs: z.number(), error: z.string().nullable() })),
      nextAttemptAt: z.number().nullable().describe('when a pending message is tried next; null while an attempt runs, and once finished'),
      createdAt: z.number(),
    }),
  ),
  nextCursor: z.string().nullable(),
});

export const replayBody = z.strictObject({
  since: timeParam,
  until: timeParam.optional(),
  status: messageStatus.optional().describe('only messages with this status (default: any)'),
});
export const replayResult = z.object({ replayed: z.number().int() });

export const eventTypes = z.object({
  eventTypes: z.array(z.object({ type: z.string(), description: z.string(), schema: z.record(z.string(), z.unknown()), example: z.unknown() })),
});
