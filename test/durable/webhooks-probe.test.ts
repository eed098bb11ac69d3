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
});
