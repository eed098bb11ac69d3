import { z } from 'zod';
import { defineEventType } from '../events.js';
import { LIFECYCLE_EVENTS } from './lifecycle-events.js';

/** The event types the webhooks feature emits itself: connection lifecycle and the test event. */

export const connectionOpened = defineEventType({
  type: 'connection.opened',
  description: 'A connection completed `connect` (its user and tenant are known).',
  data: z.strictObject({
    connectionId: z.string(),
    user: z.string(),
    ip: z.string(),
    userAgent: z.string().nullable(),
  }),
  example: { connectionId: 'c_8f2d1a', user: 'ann', ip: '203.0.113.7', userAgent: 'Mozilla/5.0' },
});

export const connectionClosed = defineEventType({
  type: 'connection.closed',
  description:
    "A connection that had connected ended: `code` is the WebSocket close code it ended with (1006 without a close handshake), `reason` is `closed` (a close handshake, either side), `lost` (no close handshake: network cut, killed peer) or `server_lost` (the node serving it died; told by a surviving node, or by the node after its restart), `durationMs` how long it was open (the serving node's monotonic clock; for `server_lost`, the wall clock from its start).",
  data: z.strictObject({
    connectionId: z.string(),
    user: z.string(),
    code: z.number().int(),
    reason: z.enum(['closed', 'lost', 'server_lost']),
    durationMs: z.number().int().min(0),
  }),
  example: { connectionId: 'c_8f2d1a', user: 'ann', code: 1000, reason: 'closed', durationMs: 93_512 },
});

export const webhookTest = defineEventType({
  type: 'webhook.test',
  description: 'Sent by `POST /webhooks/endpoints/{id}/test` to that endpoint only, whatever it subscribed to.',
  data: z.strictObject({ endpointId: z.string(), message: z.string() }),
  example: { endpointId: 'whe_0lq3k9x2m4f1a2b3c4d5e6f7', message: 'a test event from Switchboard' },
});

export const WEBHOOK_EVENTS = [connectionOpened, connectionClosed, ...LIFECYCLE_EVENTS, webhookTest];
