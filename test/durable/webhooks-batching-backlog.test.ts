import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { STORES, startDurableServer } from './helpers.js';

/**
 * A batching endpoint with a backlog, on both stores: after a full batch the node keeps a
 * second full batch on the wire beside the first (a follow-up of borrowed messages), so two
 * of the endpoint's requests are in flight at once; every event still reaches the receiver in
 * exactly one request, each batch in occurrence order inside.
 */

interface Batch {
  type: string;
  events: Array<{ id: string; timestamp: string }>;
}

describe.each(STORES)('webhook batching with a backlog on %s', (store) => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('keeps two full batches in flight, and delivers each of 600 events once', async () => {
    const receiver = await WebhookReceiver.start();
    cleanup.push(() => receiver.close());
    const s = await startDurableServer(store, { webhooks: { allowNetworks: ['127.0.0.1/32'] } });
    cleanup.push(() => s.stop());
    const created = await s.api('POST', '/webhooks/endpoints', {
      body: { url: receiver.url, events: ['notification.created'], batch: { windowMs: 10, maxEvents: 100 } },
    });
    expect(created.status, created.text).toBe(201);
    receiver.secret = (created.body as { secret: string }).secret;

    // The first request is answered; the next ones hang until released.
    receiver.answer({ status: 200 }, ...Array.from({ length: 20 }, () => 'hang' as const));
    const made = await s.api('POST', '/notifications', { body: { users: Array.from({ length: 600 }, (_, i) => `b${i}`), type: 'system', title: 'backlog' } });
    expect(made.status, made.text).toBe(201);
    // One batch on the wire from the claimed messages, one follow-up beside it.
    await eventually(() => receiver.received.length >= 3, 10_000, 'a second batch on the wire beside the first');
    expect(receiver.received.slice(1, 3).map((r) => (r.verified as unknown as Batch).events.length)).toEqual([100, 100]);

    // Released: everything arrives, each event in exactly one answered request.
    const ids = () => receiver.received.flatMap((r) => (r.verified as unknown as Batch).events.map((e) => e.id));
    await eventually(
      () => {
        receiver.release();
        return new Set(ids()).size === 600;
      },
      20_000,
      'all 600 delivered',
    );
    expect(ids()).toHaveLength(600);
    for (const r of receiver.received) {
      const times = (r.verified as unknown as Batch).events.map((e) => Date.parse(e.timestamp));
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
  }, 60_000);
});
