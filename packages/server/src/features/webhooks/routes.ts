import { z } from 'zod';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import type { WebhooksConfig } from './config.js';
import {
  createBody,
  deleted,
  endpoint,
  endpointList,
  endpointWithSecret,
  eventTypes,
  idParams,
  messagePage,
  messagesQuery,
  patchBody,
  replayBody,
  replayResult,
  testResult,
} from './schemas.js';
import type { WebhookService } from './service.js';

const TAG = 'webhooks';
const BASE = '/webhooks/endpoints';
const empty = z.strictObject({}).optional();

/**
 * Webhook endpoints of the key's tenant (an admin key names it with X-Switchboard-Tenant):
 * another tenant's endpoint is 404, the same as a missing one.
 */
export function webhookRoutes(service: () => WebhookService, config: WebhooksConfig): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST',
      url: BASE,
      operationId: 'createWebhookEndpoint',
      tag: TAG,
      summary: 'Create a webhook endpoint; the answer is the only one (with a rotation) that shows its secret',
      description:
        'The URL must be http(s), at most `webhooks.maxUrlLength` characters, and pass the SSRF rules (127); every entry of `events` must be in the catalogue, `*` or `group.*` (128); at most `webhooks.maxEndpoints` per tenant (106).',
      body: createBody(config.maxUrlLength),
      response: endpointWithSecret,
      created: () => true,
      errors: [422, 503],
      handler: async ({ node, tenant, body, actor }) => {
        const created = await service().create(tenant, body);
        if (node.security.active) node.security.report({ type: 'admin.webhook_created', tenant, actor, target: { endpointId: created.id, url: created.url } });
        return created;
      },
    }),
    defineRoute({
      method: 'GET',
      url: BASE,
      operationId: 'listWebhookEndpoints',
      tag: TAG,
      summary: "The tenant's webhook endpoints, oldest first",
      response: endpointList,
      errors: [503],
      handler: async ({ tenant }) => ({ endpoints: await service().list(tenant) }),
    }),
    defineRoute({
      method: 'GET',
      url: `${BASE}/:id`,
      operationId: 'getWebhookEndpoint',
      tag: TAG,
      summary: 'One webhook endpoint (its state says whether it is disabled and why)',
      params: idParams,
      response: endpoint,
      errors: [404, 503],
      handler: ({ tenant, params }) => service().get(tenant, params.id),
    }),
    defineRoute({
      method: 'PATCH',
      url: `${BASE}/:id`,
      operationId: 'updateWebhookEndpoint',
      tag: TAG,
      summary: "Change an endpoint's URL, events, channels or description",
      params: idParams,
      body: patchBody(config.maxUrlLength),
      response: endpoint,
      errors: [404, 422, 503],
      handler: ({ tenant, params, body }) => service().update(tenant, params.id, body),
    }),
    defineRoute({
      method: 'DELETE',
      url: `${BASE}/:id`,
      operationId: 'deleteWebhookEndpoint',
      tag: TAG,
      summary: 'Delete an endpoint: its pending deliveries stop, its messages are dropped',
      params: idParams,
      response: deleted,
      errors: [404, 503],
      handler: async ({ node, tenant, params, actor }) => {
        const deleted = await service().remove(tenant, params.id);
        if (node.security.active) node.security.report({ type: 'admin.webhook_deleted', tenant, actor, target: { endpointId: params.id } });
        return deleted;
      },
    }),
    defineRoute({
      method: 'POST',
      url: `${BASE}/:id/test`,
      operationId: 'testWebhookEndpoint',
      tag: TAG,
      summary: 'Send a `webhook.test` event to this endpoint only',
      params: idParams,
      body: empty,
      response: testResult,
      accepted: () => true,
      errors: [404, 503],
      handler: ({ tenant, params }) => service().test(tenant, params.id),
    }),
    defineRoute({
      method: 'POST',
      url: `${BASE}/:id/rotate-secret`,
      operationId: 'rotateWebhookSecret',
      tag: TAG,
      summary: 'A new secret; requests carry both signatures for `webhooks.rotationOverlap` (24 h)',
      params: idParams,
      body: empty,
      response: endpointWithSecret,
      errors: [404, 503],
      handler: ({ tenant, params }) => service().rotate(tenant, params.id),
    }),
    defineRoute({
      method: 'POST',
      url: `${BASE}/:id/enable`,
      operationId: 'enableWebhookEndpoint',
      tag: TAG,
      summary: 'Enable a disabled endpoint (its failed messages stay failed: replay them)',
      params: idParams,
      body: empty,
      response: endpoint,
      errors: [404, 503],
      handler: ({ tenant, params }) => service().enable(tenant, params.id),
    }),
    defineRoute({
      method: 'POST',
      url: `${BASE}/:id/replay`,
      operationId: 'replayWebhookMessages',
      tag: TAG,
      summary: 'Deliver again the events of messages created in [since, until] (optionally of one status), with their original ids',
      description: 'A reversed window or one in the future is 129.',
      params: idParams,
      body: replayBody,
      response: replayResult,
      accepted: () => true,
      errors: [404, 503],
      handler: ({ tenant, params, body }) => service().replay(tenant, params.id, body),
    }),
    defineRoute({
      method: 'GET',
      url: `${BASE}/:id/messages`,
      operationId: 'listWebhookMessages',
      tag: TAG,
      summary: "An endpoint's messages, newest first, with their attempts",
      params: idParams,
      query: messagesQuery,
      response: messagePage,
      errors: [404, 503],
      handler: ({ tenant, params, query }) => service().messages(tenant, params.id, query),
    }),
    defineRoute({
      method: 'GET',
      url: '/webhooks/event-types',
      operationId: 'listWebhookEventTypes',
      tag: TAG,
      summary: 'The event catalogue: every type, its payload JSON Schema and an example',
      response: eventTypes,
      errors: [503],
      handler: async () => service().eventTypes(),
    }),
  ];
}
