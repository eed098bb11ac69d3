import type { OpenApiDocument } from '@switchboard/server/testing';
import { apiRoutes } from '@switchboard/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * GET /api/v1/openapi.json: generated from the zod schemas that validate the routes.
 * Checked against the router (every documented operation is served) and against real
 * responses (every 200 body matches its documented schema).
 */

type Operation = {
  operationId: string;
  parameters?: Array<{ name: string; in: string; required: boolean; schema: Record<string, unknown> }>;
  requestBody?: { required: boolean; content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
  security?: unknown[];
};

const EXPECTED_PATHS: Record<string, string[]> = {
  '/publish': ['post'],
  '/broadcast': ['post'],
  '/batch': ['post'],
  '/channels': ['get'],
  '/channels/{channel}/history': ['delete', 'get'],
  '/channels/{channel}/presence': ['get'],
  '/channels/{channel}/presence/stats': ['get'],
  '/users/{user}/disconnect': ['post'],
  '/users/{user}/unsubscribe': ['post'],
  '/users/{user}/presence': ['get'],
  '/users/{user}/subscribe': ['post'],
  '/subscribe': ['post'],
  '/stats': ['get'],
  '/key': ['get'],
  '/demo/token': ['post'],
  '/connections': ['get'],
  '/presence': ['get'],
  '/errors': ['get'],
  '/console/token': ['post'],
  '/tenants/{tenant}/quotas': ['delete', 'get', 'put'],
  '/scheduled': ['get'],
  '/scheduled/{id}': ['delete', 'get'],
  '/openapi.json': ['get'],
  '/notifications': ['get', 'post'],
  '/notifications/unread-count': ['get'],
  '/notifications/read-all': ['post'],
  '/notifications/seen': ['post'],
  '/notifications/{id}/read': ['post'],
  '/notifications/{id}/archive': ['post'],
  '/notifications/preferences': ['get', 'put'],
  '/activities': ['get', 'post'],
  '/activity/insights': ['get'],
  '/channels/{channel}/locks': ['get'],
  '/channels/{channel}/locks/{key}': ['delete', 'get', 'put'],
  '/channels/{channel}/threads': ['get', 'post'],
  '/threads/{threadId}': ['delete', 'get', 'patch'],
  '/threads/{threadId}/comments': ['post'],
  '/threads/{threadId}/comments/{commentId}': ['delete', 'patch'],
  '/threads/{threadId}/comments/{commentId}/reactions/{reaction}': ['delete', 'put'],
  '/threads/{threadId}/read': ['get', 'put'],
  '/channels/{channel}/record': ['get', 'patch'],
  '/records': ['get'],
  '/documents': ['get'],
  '/documents/{name}': ['delete', 'get'],
  '/documents/{name}/updates': ['post'],
  '/documents/{name}/changes': ['post'],
  '/documents/{name}/awareness': ['get'],
  '/documents/{name}/versions': ['get', 'post'],
  '/documents/{name}/versions/{id}': ['get'],
  '/documents/{name}/versions/{id}/restore': ['post'],
  '/webhooks/endpoints': ['get', 'post'],
  '/webhooks/endpoints/{id}': ['delete', 'get', 'patch'],
  '/webhooks/endpoints/{id}/test': ['post'],
  '/webhooks/endpoints/{id}/rotate-secret': ['post'],
  '/webhooks/endpoints/{id}/enable': ['post'],
  '/webhooks/endpoints/{id}/replay': ['post'],
  '/webhooks/endpoints/{id}/messages': ['get'],
  '/webhooks/event-types': ['get'],
  '/audit': ['get'],
  '/audit/system': ['get'],
  '/metrics/points': ['post'],
  '/metrics/query': ['get'],
  '/metrics/series': ['get'],
  '/metrics/series/{name}': ['delete', 'get', 'put'],
  '/metrics/dashboards': ['get'],
  '/metrics/dashboards/{id}': ['delete', 'get', 'put'],
  '/metrics/health': ['get'],
  '/metrics/alerts': ['get'],
  '/metrics/alerts/{name}': ['delete', 'put'],
  '/metrics/system/grants': ['post'],
};

/** A valid request for every operation, to call the documented route for real. */
/** A sample call per operation; `status` when the success is not 200 / 201 (202: accepted for later). */
/** A Yjs update (base64) for the document routes' sample. */
function sampleUpdate(): string {
  const doc = new Y.Doc();
  doc.getText('body').insert(0, 'sample');
  return Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64');
}

const SAMPLES: Record<string, { path: string; body?: unknown; admin?: boolean; status?: number }> = {
  publish: { path: '/publish', body: { channel: 'project:doc', data: { a: 1 } } },
  broadcast: { path: '/broadcast', body: { channels: ['project:doc', 'nosuch:x'], data: 1 } },
  batch: {
    path: '/batch',
    body: {
      publications: [
        { channel: 'project:doc', data: 2, idempotencyKey: 'k' },
        { channel: 'project:doc', data: 2, idempotencyKey: 'k' },
      ],
    },
  },
  channels: { path: '/channels' },
  history: { path: '/channels/project:doc/history' },
  removeHistory: { path: '/channels/project:gone/history' },
  presence: { path: '/channels/project:doc/presence' },
  presenceStats: { path: '/channels/project:doc/presence/stats' },
  disconnectUser: { path: '/users/somebody/disconnect', body: { code: 4000 } },
  unsubscribeUser: { path: '/users/nobody/unsubscribe', body: { channel: 'project:doc' } },
  openapi: { path: '/openapi.json' },
  userPresence: { path: '/users/somebody/presence' },
  subscribeUser: { path: '/users/somebody/subscribe', body: { channel: 'project:doc' } },
  subscribe: { path: '/subscribe', body: { user: 'somebody', channel: 'project:doc' } },
  tenantStats: { path: '/stats' },
  apiKeyScope: { path: '/key', admin: true },
  demoToken: { path: '/demo/token', body: { user: 'sampler', name: 'Sam' } },
  connections: { path: '/connections?user=nob&limit=10', admin: true },
  tenantPresence: { path: '/presence?prefix=project:&limit=10' },
  errors: { path: '/errors?minutes=5', admin: true },
  getTenantQuotas: { path: '/tenants/acme/quotas', admin: true },
  setTenantQuotas: { path: '/tenants/acme/quotas', body: { connections: 500, publishesPerMinute: 6000 }, admin: true },
  removeTenantQuotas: { path: '/tenants/acme/quotas', admin: true },
  listScheduled: { path: '/scheduled?status=pending&limit=5' },
  getScheduled: { path: '/scheduled/{sid}' },
  cancelScheduled: { path: '/scheduled/{sid}' },
  createNotifications: { path: '/notifications', body: { user: 'ann', type: 'mention', title: 'Hello' } },
  listNotifications: { path: '/notifications?user=ann' },
  notificationsUnreadCount: { path: '/notifications/unread-count?user=ann' },
  markAllNotificationsRead: { path: '/notifications/read-all', body: { user: 'ann' } },
  markNotificationsSeen: { path: '/notifications/seen', body: { user: 'ann' } },
  markNotificationRead: { path: '/notifications/{nid}/read', body: { user: 'ann' } },
  archiveNotification: { path: '/notifications/{nid}/archive', body: { user: 'ann' } },
  getNotificationPreferences: { path: '/notifications/preferences?user=ann' },
  setNotificationPreferences: { path: '/notifications/preferences', body: { user: 'ann', mutedTypes: ['digest'] } },
  recordActivity: { path: '/activities', body: { scope: 'project:doc', actor: 'ann', verb: 'edited' } },
  listActivities: { path: '/activities?scope=project:doc&q=edit' },
  activityInsights: { path: '/activity/insights?scope=project:doc&from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z&bucket=hour' },
  listDocuments: { path: '/documents' },
  getDocument: { path: '/documents/doc:api' },
  applyDocumentUpdate: { path: '/documents/doc:api/updates', body: { update: sampleUpdate() } },
  applyDocumentJsonChange: { path: '/documents/doc:api/changes', body: { ops: [{ op: 'map.set', root: 'fields', key: 'email', value: 'ada@example.com' }] } },
  deleteDocument: { path: '/documents/doc:api' },
  getDocumentAwareness: { path: '/documents/doc:api/awareness' },
  createDocumentVersion: { path: '/documents/doc:ver/versions', body: { label: 'sample', createdBy: 'ann' } },
  listDocumentVersions: { path: '/documents/doc:ver/versions' },
  getDocumentVersion: { path: '/documents/doc:ver/versions/{vid}' },
  restoreDocumentVersion: { path: '/documents/doc:ver/versions/{vid}/restore' },
  getRecord: { path: '/channels/form:doc/record' },
  writeRecord: { path: '/channels/form:doc/record', body: { userId: 'ann', base: 0, changes: [{ field: 'title', op: 'set', value: 'Draft' }] } },
  listRecords: { path: '/records?prefix=form:' },
  listLocks: { path: '/channels/project:doc/locks' },
  putLock: { path: '/channels/project:doc/locks/field:email', body: { userId: 'ann', ttlMs: 60_000, attributes: { name: 'Ann' } } },
  getLock: { path: '/channels/project:doc/locks/field:email' },
  deleteLock: { path: '/channels/project:doc/locks/field:email?force=true' },
  createThread: { path: '/channels/project:doc/threads', body: { userId: 'ann', body: 'Is this right?', metadata: { field: 'title' } } },
  listThreads: { path: '/channels/project:doc/threads?resolved=false' },
  getThread: { path: '/threads/{tid}' },
  updateThread: { path: '/threads/{tid}', body: { userId: 'ann', resolved: true } },
  deleteThread: { path: '/threads/{tid2}' },
  addComment: { path: '/threads/{tid}/comments', body: { userId: 'bob', body: 'Yes' } },
  editComment: { path: '/threads/{tid}/comments/{cid}', body: { userId: 'ann', body: 'Is this right now?' } },
  addReaction: { path: '/threads/{tid}/comments/{cid2}/reactions/like?userId=bob' },
  removeReaction: { path: '/threads/{tid}/comments/{cid2}/reactions/like?userId=bob' },
  deleteComment: { path: '/threads/{tid}/comments/{cid}?userId=ann' },
  markThreadRead: { path: '/threads/{tid}/read', body: { userId: 'ann', commentId: '{cid2}' } },
  threadReceipts: { path: '/threads/{tid}/read' },
  createWebhookEndpoint: { path: '/webhooks/endpoints', body: { url: 'https://hooks.example.com/in', events: ['*'] } },
  listWebhookEndpoints: { path: '/webhooks/endpoints' },
  getWebhookEndpoint: { path: '/webhooks/endpoints/{wid}' },
  updateWebhookEndpoint: { path: '/webhooks/endpoints/{wid}', body: { description: 'the sample endpoint' } },
  deleteWebhookEndpoint: { path: '/webhooks/endpoints/{wid2}' },
  testWebhookEndpoint: { path: '/webhooks/endpoints/{wid}/test', body: {}, status: 202 },
  rotateWebhookSecret: { path: '/webhooks/endpoints/{wid}/rotate-secret', body: {} },
  enableWebhookEndpoint: { path: '/webhooks/endpoints/{wid}/enable', body: {} },
  replayWebhookMessages: { path: '/webhooks/endpoints/{wid}/replay', body: { since: '2024-01-01T00:00:00Z' }, status: 202 },
  listWebhookMessages: { path: '/webhooks/endpoints/{wid}/messages' },
  listWebhookEventTypes: { path: '/webhooks/event-types' },
  listAuditEntries: { path: '/audit?type=admin.*&from=2024-01-01T00:00:00Z&limit=10' },
  listSystemAuditEntries: { path: '/audit/system?type=auth.failed', admin: true },
  ingestMetricPoints: { path: '/metrics/points', body: { points: [{ series: 'api.latency_ms', labels: { route: '/login' }, value: 12.5 }] } },
  queryMetrics: { path: '/metrics/query?series=api.latency_ms&labels=%7B%22route%22%3A%22%2Flogin%22%7D&stats=count,p95' },
  listMetricSeries: { path: '/metrics/series' },
  getMetricSeries: { path: '/metrics/series/api.latency_ms' },
  putMetricSeries: {
    path: '/metrics/series/web.lcp_ms',
    body: { kind: 'distribution', unit: 'ms', labels: ['page'], retention: { '1s': '2m' }, persist: true },
  },
  deleteMetricSeries: { path: '/metrics/series/sample.gone' },
  listMetricDashboards: { path: '/metrics/dashboards' },
  getMetricDashboard: { path: '/metrics/dashboards/ops' },
  putMetricDashboard: {
    path: '/metrics/dashboards/ops',
    body: { title: 'Ops', panels: [{ series: 'api.latency_ms', labels: { route: '/login' }, resolution: '1s', window: '5m', stats: ['p95'] }] },
  },
  deleteMetricDashboard: { path: '/metrics/dashboards/ops-gone' },
  metricsHealth: { path: '/metrics/health' },
  listAlertRules: { path: '/metrics/alerts' },
  putAlertRule: { path: '/metrics/alerts/checkout-max', body: { series: 'api.latency_ms', labels: { route: '/checkout' }, stat: 'max', critical: 1000 } },
  deleteAlertRule: { path: '/metrics/alerts/doomed' },
  createSystemMetricsGrant: { path: '/metrics/system/grants', body: {}, admin: true },
  createConsoleToken: { path: '/console/token', body: {}, admin: true },
};

describe('GET /api/v1/openapi.json', () => {
  let s: TestServer;
  let doc: OpenApiDocument;
  const operations = (): Array<[string, string, Operation]> =>
    Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => [path, method, op as unknown as Operation] as [string, string, Operation]),
    );

  async function call(method: string, path: string, body?: unknown, admin = false): Promise<{ status: number; json: unknown }> {
    const headers: Record<string, string> = { authorization: `Bearer ${admin ? s.apiKey : s.tenantKeys['acme']}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${s.httpUrl}/api/v1${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: await res.json() };
  }

  beforeAll(async () => {
    s = await startTestServer({
      limits: { httpBatchSize: 7, historyPageSize: 9 },
      metrics: {
        series: { 'api.latency_ms': { kind: 'distribution', unit: 'ms', labels: ['route'] } },
        alerts: [{ name: 'login-latency', series: 'api.latency_ms', labels: { route: '/login' }, stat: 'p95', warning: 200, critical: 500, for: '30s' }],
      },
    });
    const res = await fetch(`${s.httpUrl}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = (await res.json()) as OpenApiDocument;
  });
  afterAll(async () => {
    await s.close();
  });

  it('is an OpenAPI 3.1 document served without an API key, with bearer auth declared', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBeTruthy();
    expect(doc.servers).toEqual([{ url: '/api/v1' }]);
    expect(doc.components.securitySchemes['apiKey']).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ apiKey: [] }]);
  });

  it('has a path for every route, and no other', () => {
    const actual = Object.fromEntries(Object.entries(doc.paths).map(([p, m]) => [p, Object.keys(m).sort()]));
    expect(actual).toEqual(EXPECTED_PATHS);
  });

  it('describes every request body, with the configured batch limits', () => {
    for (const [path, method, op] of operations()) {
      if (method !== 'post') continue;
      const schema = op.requestBody?.content['application/json']?.schema;
      expect(schema, path).toMatchObject({ type: 'object', additionalProperties: false, properties: expect.any(Object) });
    }
    const body = (p: string) => (doc.paths[p]?.['post'] as unknown as Operation).requestBody as NonNullable<Operation['requestBody']>;
    expect(body('/publish').required).toBe(true);
    expect(body('/publish').content['application/json']?.schema).toMatchObject({ required: ['channel', 'data'] });
    expect(body('/broadcast').content['application/json']?.schema).toMatchObject({
      properties: { channels: { type: 'array', maxItems: 7, uniqueItems: true } },
    });
    expect(body('/batch').content['application/json']?.schema).toMatchObject({ properties: { publications: { type: 'array', maxItems: 7 } } });
    expect(body('/users/{user}/disconnect').required).toBe(false);
  });

  it('describes path, query and header parameters', () => {
    const history = doc.paths['/channels/{channel}/history']?.['get'] as unknown as Operation;
    const params = Object.fromEntries((history.parameters ?? []).map((p) => [`${p.in}:${p.name}`, p.required]));
    expect(params).toEqual({
      'path:channel': true,
      'query:limit': false,
      'query:since_offset': false,
      'query:since_epoch': false,
      'query:reverse': false,
      'header:X-Switchboard-Tenant': false,
    });
    const limit = history.parameters?.find((p) => p.name === 'limit');
    expect(limit?.schema).toMatchObject({ type: 'string', pattern: expect.any(String) });
  });

  it('documents the error responses with one Error schema, and every $ref resolves', () => {
    expect(doc.components.schemas['Error']).toMatchObject({ type: 'object', required: ['error'] });
    for (const [path, method, op] of operations()) {
      const statuses = Object.keys(op.responses);
      expect(statuses, `${method} ${path}`).toContain('200');
      for (const status of ['200', '201'])
        if (op.responses[status]) expect(op.responses[status].content?.['application/json']?.schema, `${method} ${path} ${status}`).toBeDefined();
      expect(statuses, `${method} ${path}`).toContain('500');
      if (op.security === undefined) expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['401', '403']));
    }
    expect((doc.paths['/publish']?.['post'] as unknown as Operation).responses['503']).toBeDefined();
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const target = ref.split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
      expect(target, ref).toBeDefined();
    }
  });

  it("documents only operations the router serves (features' too), and every success body matches its documented schema", async () => {
    const served = [...apiRoutes(s.server.config, () => doc), ...s.server.features.routes(s.server.config)];
    const routes = new Map(served.map((r) => [r.operationId, r]));
    const c = await RawClient.connect(s.url, await s.token({ sub: 'nobody' }));
    await c.call('subscribe', { channel: 'project:doc' });
    await c.call('presence_set', { channel: 'project:doc', state: { page: 'docs' } });
    const created = await call('POST', '/notifications', { user: 'ann', type: 'mention', title: 'To read and archive' });
    const nid = (created.json as { notifications: Array<{ id: string }> }).notifications[0]?.id as string;
    const later = await call('POST', '/publish', { channel: 'project:doc', data: 'later', delaySeconds: 3600 });
    expect(later.status).toBe(202);
    const sid = (later.json as { id: string }).id;
    const thread = async () =>
      (await call('POST', '/channels/project:doc/threads', { userId: 'ann', body: 'A thread' })).json as {
        thread: { id: string; comments: Array<{ id: string }> };
      };
    const { thread: t1 } = await thread();
    const { thread: t2 } = await thread();
    const second = (await call('POST', `/threads/${t1.id}/comments`, { userId: 'bob', body: 'A reply' })).json as { comment: { id: string } };
    const endpoint = async () =>
      ((await call('POST', '/webhooks/endpoints', { url: 'https://hooks.example.com/sample', events: ['*'] })).json as { id: string }).id;
    const [wid, wid2] = [await endpoint(), await endpoint()];
    // Its delete is served before its updates route (paths in order): the document exists first.
    expect((await call('POST', '/documents/doc:api/updates', { update: sampleUpdate() })).status).toBe(200);
    expect((await call('POST', '/documents/doc:ver/updates', { update: sampleUpdate() })).status).toBe(200);
    const vid = ((await call('POST', '/documents/doc:ver/versions', {})).json as { id: string }).id;
    // What the metrics samples read and delete, whatever order their routes come in.
    expect((await call('PUT', '/metrics/series/sample.gone', { kind: 'gauge' })).status).toBe(200);
    for (const id of ['ops', 'ops-gone']) expect((await call('PUT', `/metrics/dashboards/${id}`, { title: id, panels: [] })).status).toBe(200);
    expect((await call('PUT', '/metrics/alerts/doomed', { series: 'api.latency_ms', stat: 'p95', warning: 1 })).status).toBe(200);
    const ids: Record<string, string> = { nid, sid, tid: t1.id, tid2: t2.id, cid: t1.comments[0]?.id as string, cid2: second.comment.id, wid, wid2, vid };
    for (const [path, method, op] of operations()) {
      const sample = SAMPLES[op.operationId];
      expect(sample, op.operationId).toBeDefined();
      const fill = (text: string) => text.replace(/\{(nid|sid|tid2|tid|cid2|cid|wid2|wid|vid)\}/g, (_, k: string) => ids[k] as string);
      const body = sample?.body === undefined ? undefined : (JSON.parse(fill(JSON.stringify(sample.body))) as unknown);
      const res = await call(method.toUpperCase(), fill(sample?.path as string), body, sample?.admin);
      const ok = sample?.status ?? (op.responses['201'] ? 201 : 200);
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.json)}`).toBe(ok);
      const route = routes.get(op.operationId);
      expect(route?.url.replace(/:(\w+)/g, '{$1}')).toBe(path);
      const parsed = route?.response.safeParse(res.json);
      expect(parsed?.success, `${op.operationId}: ${JSON.stringify(parsed?.error?.issues)}`).toBe(true);
    }
    c.close();
  });
});
