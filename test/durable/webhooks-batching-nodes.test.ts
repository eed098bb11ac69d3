import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { createTestDatabase, startDurableServer } from './helpers.js';

/**
 * A batching endpoint served by two nodes on one PostgreSQL database: each node's batches take
 * the endpoint's pending messages in one statement that skips the rows the other node holds,
 * so the backlog is split between them and every event reaches the receiver in exactly one
 * request, none in two.
 */

interface Batch {
  type: string;
  events: Array<{ id: string; type: string }>;
}

describe('webhook batching across two nodes (PostgreSQL)', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('sends each of 3,000 events in exactly one batch, whichever node takes it, at most maxEvents per request', async () => {
    const db = await createTestDatabase('postgres');
    cleanup.push(() => db.drop());
    const receiver = await WebhookReceiver.start();
    cleanup.push(() => receiver.close());
    const config = { jobs: { pollInterval: '20ms' }, webhooks: { allowNetworks: ['127.0.0.1/32'] } };
    const node = async () => {
      const s = await startDurableServer('postgres', config, db);
      cleanup.push(() => s.stop());
      return s;
    };
    const a = await node();
    const created = await a.api('POST', '/webhooks/endpoints', {
      body: { url: receiver.url, events: ['notification.created'], batch: { windowMs: 20, maxEvents: 100 } },
    });
    expect(created.status, created.text).toBe(201);
    receiver.secret = (created.body as { secret: string }).secret;
    // The second node reads the endpoint at its start (the nodes share no engine here to tell it later).
    const b = await node();

    // Both nodes make events, so both have new messages to claim at once.
    const made = await Promise.all(
      Array.from({ length: 6 }, (_, k) =>
        (k % 2 === 0 ? a : b).api('POST', '/notifications', {
          body: { users: Array.from({ length: 500 }, (_, j) => `n${k * 500 + j}`), type: 'system', title: `batch ${k}` },
        }),
      ),
    );
    for (const r of made) expect(r.status, r.text).toBe(201);

    const ids = () => receiver.received.flatMap((r) => (r.verified as unknown as Batch | null)?.events.map((e) => e.id) ?? []);
    await eventually(() => new Set(ids()).size === 3000, 30_000, 'every event delivered');
    // Settled: nothing more arrives after the last one.
    await a.server.jobs.poll();
    await b.server.jobs.poll();
    expect(receiver.received.every((r) => r.status === 200 && (r.verified as unknown as Batch | null)?.type === 'batch')).toBe(true);
    expect(ids()).toHaveLength(3000);
    expect(Math.max(...receiver.received.map((r) => (r.verified as unknown as Batch).events.length))).toBeLessThanOrEqual(100);
    // Both nodes sent some of the requests (each counts its own attempts).
    const sentBy = async (s: typeof a) =>
      Number(/switchboard_webhook_attempts_total\{status="2xx"\} (\d+)/.exec(await (await fetch(`${s.httpUrl}/metrics`)).text())?.[1] ?? 0);
    const [byA, byB] = [await sentBy(a), await sentBy(b)];
    expect(byA).toBeGreaterThan(0);
    expect(byB).toBeGreaterThan(0);
    expect(byA + byB).toBe(receiver.received.length);
  }, 60_000);
});
