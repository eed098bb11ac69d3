import { ErrorCode } from '@switchboard/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { type DurableServer, expectApiError, STORES, startDurableServer } from './helpers.js';

/**
 * Webhooks on both stores, against real node:http receivers that verify each request with
 * the reference `standardwebhooks` package. The server's clock is the test's: the first
 * attempt runs at once, a retry only when the clock passes its due time and the test polls.
 */

interface Endpoint {
  id: string;
  url: string;
  events: string[];
  status: string;
  disabledReason: string | null;
  secret?: string;
}
interface Message {
  id: string;
  eventId: string;
  type: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: Array<{ at: number; responseStatus: number | null; durationMs: number; error: string | null }>;
  nextAttemptAt: number | null;
}

describe.each(STORES)('webhooks on %s', (store) => {
  let s: DurableServer;
  const clock = new ManualClock();
  const receivers: WebhookReceiver[] = [];

  beforeAll(async () => {
    s = await startDurableServer(store, {
      now: clock.now,
      jobs: { pollInterval: '1h' },
      // The tests count the jobs each poll starts: no comment deadline check due every 10 s among them.
      comments: { deadlineInterval: '0' },
      webhooks: { allowNetworks: ['127.0.0.1/32'], retrySchedule: ['1s', '2s'], maxEndpoints: 4, timeout: '500ms' },
    });
  });
  afterAll(async () => {
    await s?.stop();
  });
  afterEach(async () => {
    for (const r of receivers.splice(0)) await r.close();
    const list = (await s.api('GET', '/webhooks/endpoints')).body['endpoints'] as Endpoint[];
    for (const e of list) await s.api('DELETE', `/webhooks/endpoints/${e.id}`);
  });

  const receiver = async () => {
    const r = await WebhookReceiver.start();
    receivers.push(r);
    return r;
  };
  const create = async (r: WebhookReceiver, events: string[], opts: { tenant?: string; channels?: string[] } = {}) => {
    const key = opts.tenant ? s.tenantKeys[opts.tenant] : undefined;
    const res = await s.api('POST', '/webhooks/endpoints', { body: { url: r.url, events, channels: opts.channels ?? [] }, ...(key ? { key } : {}) });
    expect(res.status, res.text).toBe(201);
    const e = res.body as unknown as Endpoint;
    r.secret = e.secret as string;
    return e;
  };
  const messages = async (id: string, status?: string) =>
    (await s.api('GET', `/webhooks/endpoints/${id}/messages${status ? `?status=${status}` : ''}`)).body['messages'] as Message[];
  const settle = (id: string, what: (m: Message[]) => boolean, label: string) => eventually(async () => what(await messages(id)), 5000, label);

  it('shows the secret only when created, lists and patches, and answers 404 to another tenant', async () => {
    const r = await receiver();
    const e = await create(r, ['webhook.test']);
    expect(e.secret).toMatch(/^whsec_[A-Za-z0-9+/]{40,}={0,2}$/);
    expect(Buffer.from((e.secret as string).slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    const got = await s.api('GET', `/webhooks/endpoints/${e.id}`);
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty('secret');
    expect(((await s.api('GET', '/webhooks/endpoints')).body['endpoints'] as Endpoint[]).map((x) => x.id)).toEqual([e.id]);
    const patched = await s.api('PATCH', `/webhooks/endpoints/${e.id}`, { body: { events: ['connection.*'], description: 'lifecycle' } });
    expect(patched.body).toMatchObject({ events: ['connection.*'], description: 'lifecycle' });
    for (const [method, path] of [
      ['GET', ''],
      ['PATCH', ''],
      ['DELETE', ''],
      ['POST', '/test'],
      ['GET', '/messages'],
    ] as const) {
      const res = await s.api(method, `/webhooks/endpoints/${e.id}${path}`, {
        key: s.tenantKeys['demo'],
        ...(method === 'PATCH' ? { body: { description: 'x' } } : {}),
      });
      expectApiError(res, 404, ErrorCode.NotFound.code);
    }
    const admin = await s.api('GET', `/webhooks/endpoints/${e.id}`, { key: s.apiKey, tenant: 'acme' });
    expect(admin.status, admin.text).toBe(200);
  });

  it('refuses bad URLs, unknown event types, a reversed replay window and endpoints beyond the cap, writing nothing', async () => {
    const post = (body: Record<string, unknown>) => s.api('POST', '/webhooks/endpoints', { body: { events: ['webhook.test'], ...body } });
    for (const url of [
      'ftp://127.0.0.1/x',
      'not a url',
      'http://169.254.169.254/latest/meta-data',
      'http://10.0.0.8/h',
      'http://[::1]:80/h',
      'http://u:p@127.0.0.1/h',
      `http://127.0.0.1/${'a'.repeat(2040)}`,
    ])
      expectApiError(await post({ url }), 422, ErrorCode.InvalidWebhookUrl.code);
    expectApiError(await post({ url: 'http://127.0.0.1:9/h', events: ['channel.exploded'] }), 422, ErrorCode.UnknownEventType.code, /channel\.exploded/);
    expectApiError(await post({ url: 'http://127.0.0.1:9/h', events: ['nothing.*'] }), 422, ErrorCode.UnknownEventType.code);
    expect((await s.api('GET', '/webhooks/endpoints')).body['endpoints']).toEqual([]);
    const r = await receiver();
    const first = await create(r, ['*']);
    for (let i = 0; i < 3; i++) await create(r, ['*']);
    expectApiError(await post({ url: r.url }), 422, ErrorCode.LimitExceeded.code);
    const reversed = await s.api('POST', `/webhooks/endpoints/${first.id}/replay`, { body: { since: clock.now(), until: clock.now() - 1000 } });
    expectApiError(reversed, 400, ErrorCode.InvalidRange.code);
    const future = await s.api('POST', `/webhooks/endpoints/${first.id}/replay`, { body: { since: clock.now() + 3_600_000 } });
    expectApiError(future, 400, ErrorCode.InvalidRange.code);
  });

  it('delivers connection, notification and test events signed by the Standard Webhooks scheme, once each', async () => {
    const r = await receiver();
    const e = await create(r, ['connection.*', 'notification.created', 'webhook.test']);
    const device = await s.device('ann');
    const created = await s.api('POST', '/notifications', { body: { user: 'ann', type: 'mention', title: 'hello' } });
    expect(created.status, created.text).toBe(201);
    const test = await s.api('POST', `/webhooks/endpoints/${e.id}/test`);
    expect(test.status, test.text).toBe(202);
    device.close();
    await eventually(() => r.events().length === 4, 5000, 'four verified events');
    expect(r.received.every((x) => x.verified !== null)).toBe(true);
    const types = r.events().map((x) => x.verified?.type);
    expect(types.sort()).toEqual(['connection.closed', 'connection.opened', 'notification.created', 'webhook.test']);
    const opened = r.events('connection.opened')[0]?.verified;
    expect(opened?.data).toMatchObject({ user: 'ann', ip: '127.0.0.1' });
    expect(r.events('notification.created')[0]?.verified?.data).toMatchObject({ user: 'ann', type: 'mention', title: 'hello' });
    expect(r.events('webhook.test')[0]?.id).toBe((test.body as { eventId: string }).eventId);
    expect(new Set(r.received.map((x) => x.id)).size).toBe(4);
    await settle(e.id, (m) => m.length === 4 && m.every((x) => x.status === 'delivered'), 'four delivered messages');
    for (const m of await messages(e.id)) expect(m.attempts).toMatchObject([{ responseStatus: 200, error: null }]);
  });

  it('retries a 500 on the schedule with the same webhook-id, and honours Retry-After on a 429', async () => {
    const r = await receiver();
    const e = await create(r, ['webhook.test']);
    r.answer({ status: 500 }, { status: 429, headers: { 'retry-after': '120' } });
    await s.api('POST', `/webhooks/endpoints/${e.id}/test`);
    await settle(e.id, (m) => m[0]?.attempts.length === 1 && m[0]?.nextAttemptAt !== null, 'the first attempt');
    const [first] = await messages(e.id, 'pending');
    expect(first?.attempts[0]?.responseStatus).toBe(500);
    // 1 s ± 20 %: not due before 800 ms, due by 1200 ms.
    expect(first?.nextAttemptAt).toBeGreaterThanOrEqual(clock.now() + 800);
    expect(first?.nextAttemptAt).toBeLessThanOrEqual(clock.now() + 1200);
    clock.advance(1200);
    await s.server.jobs.poll();
    await settle(e.id, (m) => m[0]?.attempts.length === 2 && m[0]?.nextAttemptAt !== null, 'the second attempt');
    const [second] = await messages(e.id, 'pending');
    expect(second?.attempts[1]?.responseStatus).toBe(429);
    // The schedule says 2 s (4 s when slowed for a 429); the receiver asked for 120 s.
    expect(second?.nextAttemptAt).toBeGreaterThanOrEqual(clock.now() + 120_000);
    clock.advance(60_000);
    expect(await s.server.jobs.poll()).toBe(0);
    clock.advance(60_000);
    await s.server.jobs.poll();
    await settle(e.id, (m) => m[0]?.status === 'delivered', 'delivered on the third attempt');
    expect(r.received.map((x) => x.status)).toEqual([500, 429, 200]);
    expect(new Set(r.received.map((x) => x.id)).size).toBe(1);
    expect(r.received.every((x) => x.verified !== null)).toBe(true);
  });

  it('fails a message after the last attempt (the dead-letter list) and replays it with its original id', async () => {
    const r = await receiver();
    const e = await create(r, ['webhook.test']);
    r.answer({ status: 503 }, { status: 503 }, { status: 503 });
    const { eventId } = (await s.api('POST', `/webhooks/endpoints/${e.id}/test`)).body as { eventId: string };
    for (let attempt = 1; attempt <= 3; attempt++) {
      await settle(e.id, (m) => m[0]?.attempts.length === attempt && (m[0]?.nextAttemptAt !== null || m[0]?.status === 'failed'), `attempt ${attempt}`);
      clock.advance(5000);
      await s.server.jobs.poll();
    }
    await settle(e.id, (m) => m[0]?.status === 'failed', 'failed after three attempts');
    expect((await messages(e.id, 'failed')).map((m) => m.eventId)).toEqual([eventId]);
    expect(await messages(e.id, 'pending')).toEqual([]);
    const replay = await s.api('POST', `/webhooks/endpoints/${e.id}/replay`, { body: { since: clock.now() - 3_600_000, status: 'failed' } });
    expect(replay.body).toEqual({ replayed: 1 });
    await eventually(() => r.events().some((x) => x.status === 200), 5000, 'the replay delivered');
    expect(new Set(r.received.map((x) => x.id))).toEqual(new Set([eventId]));
    expect(r.received).toHaveLength(4);
  });

  it('disables an endpoint that answers 410, and delivers again once enabled', async () => {
    const r = await receiver();
    const e = await create(r, ['webhook.test']);
    r.answer({ status: 410 });
    await s.api('POST', `/webhooks/endpoints/${e.id}/test`);
    await settle(e.id, (m) => m[0]?.status === 'failed', 'failed by the 410');
    expect((await s.api('GET', `/webhooks/endpoints/${e.id}`)).body).toMatchObject({ status: 'disabled', disabledReason: 'gone' });
    expect((await s.api('POST', `/webhooks/endpoints/${e.id}/enable`)).body).toMatchObject({ status: 'enabled', disabledReason: null });
    await s.api('POST', `/webhooks/endpoints/${e.id}/test`);
    await eventually(() => r.events().some((x) => x.status === 200), 5000, 'delivered after enable');
    const metrics = await (await fetch(`${s.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_webhook_endpoints_disabled_total\{reason="gone"\} [1-9]/);
    expect(metrics).toMatch(/switchboard_webhook_attempts_total\{status="4xx"\} [1-9]/);
  });

  it('a hanging endpoint and a down one delay nobody else; the hanging attempt times out and is retried', async () => {
    const slow = await receiver();
    const down = await receiver();
    const good = await receiver();
    const eSlow = await create(slow, ['connection.opened']);
    const eDown = await create(down, ['connection.opened']);
    const eGood = await create(good, ['connection.opened']);
    slow.answer('hang');
    await down.close();
    const device = await s.device('bob');
    await eventually(() => good.events('connection.opened').length === 1, 5000, 'the good endpoint got its event');
    await settle(eDown.id, (m) => m[0]?.attempts[0]?.error !== undefined && m[0]?.attempts[0]?.responseStatus === null, 'the down endpoint failed its attempt');
    await settle(eSlow.id, (m) => m[0]?.attempts.length === 1, 'the hanging attempt timed out');
    expect((await messages(eSlow.id))[0]?.attempts[0]?.error).toMatch(/no complete answer within 500 ms/);
    expect((await messages(eSlow.id))[0]?.status).toBe('pending');
    expect((await messages(eGood.id))[0]?.status).toBe('delivered');
    device.close();
  });

  it("never delivers one tenant's events to another's endpoint", async () => {
    const mine = await receiver();
    const theirs = await receiver();
    await create(mine, ['connection.opened']);
    await create(theirs, ['connection.opened'], { tenant: 'demo' });
    const canary = await s.device('canary-b-7f3e', { tenant: 'demo' });
    const ann = await s.device('ann');
    await eventually(() => theirs.events().length === 1 && mine.events().length === 1, 5000, 'each tenant got its own event');
    expect(mine.received.map((x) => x.body).join('\n')).not.toContain('canary-b-7f3e');
    expect(theirs.events()[0]?.body).toContain('canary-b-7f3e');
    canary.close();
    ann.close();
  });

  it('lists the event catalogue with a JSON Schema and an example per type', async () => {
    const res = await s.api('GET', '/webhooks/event-types');
    const types = (res.body['eventTypes'] as Array<{ type: string; schema: { type: string }; example: unknown }>).map((t) => t.type);
    expect(types).toEqual(expect.arrayContaining(['connection.opened', 'connection.closed', 'notification.created', 'webhook.test']));
    for (const t of res.body['eventTypes'] as Array<{ schema: { type: string } }>) expect(t.schema.type).toBe('object');
  });
});
