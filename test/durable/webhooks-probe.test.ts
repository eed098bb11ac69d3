import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { type DurableServer, STORES, startDurableServer } from './helpers.js';

/**
 * The probe of a failing endpoint, on both stores, with the test's clock: while the endpoint
 * fails its oldest pending message is tried every `webhooks.probeInterval` (30 s) outside its
 * schedule (no attempt counted, its next scheduled attempt unchanged), and the first 2xx makes
 * every pending message due, so the backlog drains long before the schedule's next attempts.
 */

interface Message {
  id: string;
  eventId: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: Array<{ responseStatus: number | null }>;
  nextAttemptAt: number | null;
}

describe.each(STORES)('the probe of a failing webhook endpoint on %s', (store) => {
  let s: DurableServer;
  let receiver: WebhookReceiver;
  const clock = new ManualClock();

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    s = await startDurableServer(store, {
      now: clock.now,
      jobs: { pollInterval: '1h' },
      // The schedule waits an hour before the first retry: only the probe can be sooner.
      webhooks: { allowNetworks: ['127.0.0.1/32'], retrySchedule: ['1h', '2h'], probeInterval: '30s' },
    });
  });
  afterAll(async () => {
    await s?.stop();
    await receiver?.close();
  });

  it('tries the oldest pending message every 30 s without moving its schedule, and drains the backlog on the first 2xx', async () => {
    const created = await s.api('POST', '/webhooks/endpoints', { body: { url: receiver.url, events: ['webhook.test'] } });
    expect(created.status, created.text).toBe(201);
    const endpoint = created.body as { id: string; secret: string };
    receiver.secret = endpoint.secret;
    const messages = async () => ((await s.api('GET', `/webhooks/endpoints/${endpoint.id}/messages`)).body['messages'] as Message[]).reverse();

    // Down: the three first attempts and the first probe get 503.
    receiver.answer({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
    for (let i = 0; i < 3; i++) {
      await s.api('POST', `/webhooks/endpoints/${endpoint.id}/test`);
      clock.advance(10);
    }
    await eventually(async () => (await messages()).every((m) => m.attempts.length === 1 && m.nextAttemptAt !== null), 5000, 'three failed first attempts');
    const before = await messages();
    expect(before).toHaveLength(3);
    for (const m of before) expect(m.nextAttemptAt).toBeGreaterThan(clock.now() + 40 * 60_000);
    const oldest = before[0] as Message;

    // 30 s on: the probe tries the oldest once more (503); its next scheduled attempt stays.
    clock.advance(30_000);
    await s.server.jobs.poll();
    // Its attempt is listed before the probe gives the message back (running: no next attempt yet).
    await eventually(async () => (await messages())[0]?.attempts.length === 2 && (await messages())[0]?.nextAttemptAt !== null, 5000, 'the first probe');
    const probed = await messages();
    expect(probed[0]).toMatchObject({ id: oldest.id, status: 'pending', nextAttemptAt: oldest.nextAttemptAt });
    expect(probed.slice(1).map((m) => m.attempts.length)).toEqual([1, 1]);

    // Another 30 s: the receiver is back; the probe's 2xx makes the other two due at once.
    clock.advance(30_000);
    await s.server.jobs.poll();
    await eventually(
      async () => {
        await s.server.jobs.poll();
        return (await messages()).every((m) => m.status === 'delivered');
      },
      5000,
      'the backlog delivered',
    );
    const after = await messages();
    expect(after.map((m) => m.attempts.map((a) => a.responseStatus))).toEqual([
      [503, 503, 200],
      [503, 200],
      [503, 200],
    ]);
    // One 2xx per event id, nothing re-sent after it; and the probe has ended.
    const ok = receiver.received.filter((r) => r.status === 200).map((r) => r.id);
    expect(new Set(ok).size).toBe(3);
    expect(ok).toHaveLength(3);
    clock.advance(60_000);
    await s.server.jobs.poll();
    expect(receiver.received).toHaveLength(7);
    expect((await s.api('GET', `/webhooks/endpoints/${endpoint.id}`)).body).toMatchObject({ status: 'enabled' });
  });

  /** A new endpoint of its own, its messages oldest first. */
  async function endpointOf(): Promise<{ id: string; messages: () => Promise<Message[]> }> {
    const created = await s.api('POST', '/webhooks/endpoints', { body: { url: receiver.url, events: ['webhook.test'] } });
    expect(created.status, created.text).toBe(201);
    const endpoint = created.body as { id: string; secret: string };
    receiver.secret = endpoint.secret;
    return {
      id: endpoint.id,
      messages: async () => ((await s.api('GET', `/webhooks/endpoints/${endpoint.id}/messages`)).body['messages'] as Message[]).reverse(),
    };
  }

  /** Poll until every message of `e` is delivered; the response statuses of each one's attempts. */
  async function drained(e: { messages: () => Promise<Message[]> }): Promise<Array<Array<number | null>>> {
    await eventually(
      async () => {
        await s.server.jobs.poll();
        return (await e.messages()).every((m) => m.status === 'delivered');
      },
      5000,
      'the backlog delivered',
    );
    return (await e.messages()).map((m) => m.attempts.map((a) => a.responseStatus));
  }

  it('probes 30 s after the spell began whatever its scheduled attempts do meanwhile', async () => {
    const e = await endpointOf();
    receiver.answer({ status: 503 }, { status: 503 }, { status: 503 }, { status: 200 });
    await s.api('POST', `/webhooks/endpoints/${e.id}/test`);
    await eventually(async () => (await e.messages())[0]?.attempts.length === 1 && (await e.messages())[0]?.nextAttemptAt !== null, 5000, 'the first failure');
    // 20 s into the spell another message fails (no Retry-After): the probe keeps its time.
    clock.advance(20_000);
    await s.api('POST', `/webhooks/endpoints/${e.id}/test`);
    await eventually(async () => (await e.messages())[1]?.attempts.length === 1 && (await e.messages())[1]?.nextAttemptAt !== null, 5000, 'the second failure');
    clock.advance(10_000);
    await s.server.jobs.poll();
    await eventually(async () => (await e.messages())[0]?.attempts.length === 2 && (await e.messages())[0]?.nextAttemptAt !== null, 5000, 'the probe at 30 s');
    // 30 s later the next probe gets a 2xx and the backlog drains.
    clock.advance(30_000);
    expect(await drained(e)).toEqual([
      [503, 503, 200],
      [503, 200],
    ]);
  });

  it("waits for a scheduled attempt's Retry-After before probing", async () => {
    const e = await endpointOf();
    receiver.answer({ status: 503 }, { status: 503, headers: { 'retry-after': '60' } }, { status: 200 });
    await s.api('POST', `/webhooks/endpoints/${e.id}/test`);
    await eventually(async () => (await e.messages())[0]?.attempts.length === 1 && (await e.messages())[0]?.nextAttemptAt !== null, 5000, 'the first failure');
    clock.advance(20_000);
    await s.api('POST', `/webhooks/endpoints/${e.id}/test`);
    await eventually(
      async () => (await e.messages())[1]?.attempts.length === 1 && (await e.messages())[1]?.nextAttemptAt !== null,
      5000,
      'the answer with Retry-After',
    );
    // The receiver asked for 60 s: no probe at 30 s into the spell, nor at 70 s (50 s after it
    // asked); other recurring jobs may run at those times, so wait for whatever started.
    const sent = receiver.received.length;
    for (const step of [10_000, 40_000]) {
      clock.advance(step);
      await s.server.jobs.poll();
      await eventually(async () => s.server.jobs.active === 0, 5000, 'the jobs due now');
      expect(receiver.received).toHaveLength(sent);
    }
    // 60 s after it asked: the probe, a 2xx, and the backlog drains.
    clock.advance(10_000);
    expect(await drained(e)).toEqual([
      [503, 200],
      [503, 200],
    ]);
  });
});
