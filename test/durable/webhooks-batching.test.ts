import { ErrorCode } from '@switchboard/protocol';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { type DurableServer, expectApiError, STORES, startDurableServer } from './helpers.js';

/**
 * Opt-in batching per endpoint, on both stores, with the test's clock: the events of a
 * window go out together as `{ type: "batch", timestamp, events: [{ id, type, timestamp, data }] }`
 * in occurrence order, at most `maxEvents` per request, each event with its own id, signed
 * like any request; a failed batch is retried whole on the schedule, and nothing is sent twice
 * after a 2xx.
 */

interface Batch {
  type: string;
  timestamp: string;
  events: Array<{ id: string; type: string; timestamp: string; data: { endpointId: string } }>;
}
interface Message {
  id: string;
  eventId: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: Array<{ responseStatus: number | null }>;
  nextAttemptAt: number | null;
}

describe.each(STORES)('webhook batching on %s', (store) => {
  let s: DurableServer;
  let receiver: WebhookReceiver;
  const clock = new ManualClock();

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    s = await startDurableServer(store, {
      now: clock.now,
      jobs: { pollInterval: '1h' },
      webhooks: { allowNetworks: ['127.0.0.1/32'], retrySchedule: ['1s', '2s'] },
    });
  });
  afterAll(async () => {
    await s?.stop();
    await receiver?.close();
  });

  const batches = () => receiver.received.map((r) => r.verified as unknown as Batch | null);

  it('delivers the events of a window together, in order, at most maxEvents each, and retries a failed batch whole', async () => {
    const bad = await s.api('POST', '/webhooks/endpoints', { body: { url: receiver.url, events: ['webhook.test'], batch: { windowMs: 1000, maxEvents: 1 } } });
    expectApiError(bad, 400, ErrorCode.BadRequest.code);
    const created = await s.api('POST', '/webhooks/endpoints', {
      body: { url: receiver.url, events: ['webhook.test'], batch: { windowMs: 1000, maxEvents: 3 } },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body['batch']).toEqual({ windowMs: 1000, maxEvents: 3 });
    const endpoint = created.body as { id: string; secret: string };
    receiver.secret = endpoint.secret;
    const messages = async () => (await s.api('GET', `/webhooks/endpoints/${endpoint.id}/messages`)).body['messages'] as Message[];

    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      sent.push(((await s.api('POST', `/webhooks/endpoints/${endpoint.id}/test`)).body as { eventId: string }).eventId);
      clock.advance(1);
    }
    // Within the window nothing goes out.
    expect(await s.server.jobs.poll()).toBe(0);
    expect(receiver.received).toHaveLength(0);

    clock.advance(1000);
    await s.server.jobs.poll();
    await eventually(async () => (await messages()).every((m) => m.status === 'delivered'), 5000, 'five events delivered');
    expect(batches().every((b) => b?.type === 'batch')).toBe(true);
    expect(batches().map((b) => b?.events.length)).toEqual([3, 2]);
    expect(batches().flatMap((b) => b?.events.map((e) => e.id) ?? [])).toEqual(sent);
    expect(batches()[0]?.events[0]).toMatchObject({ type: 'webhook.test', data: { endpointId: endpoint.id } });
    expect(new Set(receiver.received.map((r) => r.id)).size).toBe(2);

    // A failed batch: both its messages wait for the retry, then go out together again.
    receiver.answer({ status: 500 });
    const retried = [
      ((await s.api('POST', `/webhooks/endpoints/${endpoint.id}/test`)).body as { eventId: string }).eventId,
      ((await s.api('POST', `/webhooks/endpoints/${endpoint.id}/test`)).body as { eventId: string }).eventId,
    ];
    clock.advance(1000);
    await s.server.jobs.poll();
    await eventually(() => receiver.received.length === 3, 5000, 'the failing batch');
    await eventually(
      async () =>
        (await messages())
          .filter((m) => retried.includes(m.eventId))
          .every((m) => m.status === 'pending' && m.attempts.length === 1 && m.nextAttemptAt !== null),
      5000,
      'both pending after one attempt',
    );
    expect(batches()[2]?.events.map((e) => e.id)).toEqual(retried);
    clock.advance(1300);
    await s.server.jobs.poll();
    await eventually(async () => (await messages()).every((m) => m.status === 'delivered'), 5000, 'the retried batch delivered');
    expect(receiver.received.map((r) => r.status)).toEqual([200, 200, 500, 200]);
    expect(batches()[3]?.events.map((e) => e.id)).toEqual(retried);
    // Each event reached the receiver in exactly one 2xx.
    const ok = receiver.received.filter((r) => r.status === 200).flatMap((r) => (r.verified as unknown as Batch).events.map((e) => e.id));
    expect(ok.sort()).toEqual([...sent, ...retried].sort());

    // Batching off again: one event per request, at once.
    const patched = await s.api('PATCH', `/webhooks/endpoints/${endpoint.id}`, { body: { batch: null } });
    expect(patched.body['batch']).toBeNull();
    const single = ((await s.api('POST', `/webhooks/endpoints/${endpoint.id}/test`)).body as { eventId: string }).eventId;
    await s.server.jobs.poll();
    await eventually(() => receiver.received.length === 5, 5000, 'a single event');
    expect(receiver.received[4]).toMatchObject({ id: single, verified: { type: 'webhook.test' } });
  });

  it('knows a new or changed endpoint on its node by the time the API answers: the next event waits for the window set', async () => {
    // The API answers after this node's endpoint cache has the change (other nodes learn of it
    // over the node messages): an event made right after the answer is matched and batched.
    for (let i = 0; i < 10; i++) {
      const created = await s.api('POST', '/webhooks/endpoints', {
        body: { url: receiver.url, events: ['webhook.test'], batch: { windowMs: 5000 + i, maxEvents: 10 } },
      });
      expect(created.status, created.text).toBe(201);
      const id = (created.body as { id: string }).id;
      await s.api('POST', `/webhooks/endpoints/${id}/test`);
      const patched = await s.api('PATCH', `/webhooks/endpoints/${id}`, { body: { batch: { windowMs: 7000 + i, maxEvents: 10 } } });
      expect(patched.status, patched.text).toBe(200);
      await s.api('POST', `/webhooks/endpoints/${id}/test`);
      const listed = (await s.api('GET', `/webhooks/endpoints/${id}/messages`)).body['messages'] as Message[];
      expect(listed.map((m) => m.nextAttemptAt).sort()).toEqual([clock.now() + 5000 + i, clock.now() + 7000 + i]);
      await s.api('DELETE', `/webhooks/endpoints/${id}`);
    }
  });

  it('lists the delivered messages of a batch, whose delivery jobs are gone, by status, and replays them under their ids', async () => {
    const other = await WebhookReceiver.start();
    try {
      const created = await s.api('POST', '/webhooks/endpoints', {
        body: { url: other.url, events: ['webhook.test'], batch: { windowMs: 1000, maxEvents: 10 } },
      });
      expect(created.status, created.text).toBe(201);
      const endpoint = created.body as { id: string; secret: string };
      other.secret = endpoint.secret;
      const listed = async (status: string) =>
        (await s.api('GET', `/webhooks/endpoints/${endpoint.id}/messages?status=${status}`)).body['messages'] as Message[];
      const sent: string[] = [];
      for (let i = 0; i < 4; i++) sent.push(((await s.api('POST', `/webhooks/endpoints/${endpoint.id}/test`)).body as { eventId: string }).eventId);

      clock.advance(1000);
      await s.server.jobs.poll();
      await eventually(async () => (await listed('delivered')).length === 4, 5000, 'four delivered');
      const delivered = await listed('delivered');
      expect(delivered.map((m) => m.eventId).sort()).toEqual([...sent].sort());
      expect(delivered.every((m) => m.nextAttemptAt === null && m.attempts.length === 1 && m.attempts[0]?.responseStatus === 200)).toBe(true);
      expect(await listed('pending')).toEqual([]);
      expect(await listed('failed')).toEqual([]);
      const { rows } = await sql<{ n: number | string }>`select count(*) as n from sb_jobs where kind = 'webhooks.deliver' and queue = ${endpoint.id}`.execute(
        s.server.storage.db,
      );
      expect(Number(rows[0]?.n)).toBe(0);

      const before = other.received.length;
      const replay = await s.api('POST', `/webhooks/endpoints/${endpoint.id}/replay`, { body: { since: clock.now() - 60_000, status: 'delivered' } });
      expect(replay.body).toEqual({ replayed: 4 });
      clock.advance(1000);
      await s.server.jobs.poll();
      const replayed = () => other.received.slice(before).flatMap((r) => (r.verified as unknown as Batch).events.map((e) => e.id));
      await eventually(() => replayed().length === 4, 5000, 'the replayed events');
      expect(replayed().sort()).toEqual([...sent].sort());
      await eventually(async () => (await listed('delivered')).length === 8, 5000, 'the replays listed as delivered');
    } finally {
      await other.close();
    }
  });
});
