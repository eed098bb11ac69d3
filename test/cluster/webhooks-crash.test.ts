import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, STORES, type TestDatabase } from '../durable/helpers.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { api, type ClusterNode, dropPrefix, eventually, killHard, newPrefix, startNode, stopAll } from './cluster.js';

/**
 * Webhooks across a kill -9: a server process takes a storm of notifications (each one's
 * `notification.created` event is written in the notification's own transaction) and is
 * killed in the middle of it, while the receiver's first answers (503) have left retries
 * pending. After a restart on the same database, every notification whose creation was
 * acknowledged reaches the receiver, signed and answered 2xx; a webhook id is answered 2xx
 * twice only if its attempt was in flight at the kill (at most the runner's concurrent jobs).
 */

const STORM = 80;
const IN_FLIGHT = 4;
/** Jobs one runner has in flight at most (the nodes' jobs.concurrency): the most that may be sent again. */
const MAX_IN_FLIGHT_AT_KILL = 16;

describe('webhooks across a kill -9 of the server (Redis engine; SQLite or PostgreSQL)', () => {
  const prefixes: string[] = [];
  const dbs: TestDatabase[] = [];
  const dirs: string[] = [];
  const receivers: WebhookReceiver[] = [];
  let nodes: ClusterNode[] = [];

  afterEach(async () => {
    await stopAll(nodes);
    nodes = [];
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    for (const p of prefixes) await dropPrefix(p);
    for (const d of dbs) await d.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it.each(STORES)(
    'delivers the event of every acknowledged notification after the restart, a duplicate only for an attempt in flight (%s)',
    async (store) => {
      const prefix = newPrefix('hooks-crash');
      prefixes.push(prefix);
      const db = await createTestDatabase(store);
      dbs.push(db);
      const dataDir = mkdtempSync(join(tmpdir(), 'sb-hooks-crash-'));
      dirs.push(dataDir);
      const receiver = await WebhookReceiver.start();
      receivers.push(receiver);
      const config = {
        database: db.database,
        dataDir,
        jobs: { pollInterval: '100ms', lease: '2s', concurrency: MAX_IN_FLIGHT_AT_KILL },
        webhooks: { allowNetworks: ['127.0.0.1/32'], retrySchedule: ['1s', '2s', '5s'] },
      };
      const first = await startNode('a', { prefix, config });
      nodes.push(first);
      const created = await api(first, 'POST', '/webhooks/endpoints', { url: receiver.url, events: ['notification.created'] });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      receiver.secret = created.body['secret'] as string;
      // The first attempts fail (503), so retries are pending in the outbox when the node dies.
      receiver.answer(...Array.from({ length: 20 }, () => ({ status: 503 })));

      // The storm: IN_FLIGHT requests at a time; the node is killed once a third are acknowledged.
      const acknowledged: string[] = [];
      let next = 0;
      let killed: Promise<void> | null = null;
      const worker = async () => {
        while (next < STORM) {
          const i = next++;
          try {
            const res = await api(first, 'POST', '/notifications', { user: `u${i % 7}`, type: 'mention', title: `n${i}` });
            if (res.status === 201) acknowledged.push((res.body['notifications'] as Array<{ id: string }>)[0]?.id as string);
          } catch {
            return; // the node is gone: this request was never acknowledged
          }
          if (acknowledged.length >= STORM / 3 && !killed) killed = killHard(first);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      await killed;
      expect(acknowledged.length).toBeGreaterThanOrEqual(STORM / 3);
      expect(acknowledged.length).toBeLessThan(STORM);

      const second = await startNode('b', { prefix, config });
      nodes.push(second);
      // A delivery is an attempt the receiver answered 2xx.
      const delivered = () => receiver.events('notification.created').filter((r) => r.status === 200);
      await eventually(
        () => {
          const ids = new Set(delivered().map((r) => r.verified?.data['id'] as string));
          return acknowledged.every((id) => ids.has(id));
        },
        60_000,
        'every acknowledged notification delivered',
      );

      expect(receiver.received.filter((r) => r.verified === null)).toEqual([]);
      expect(receiver.events('notification.created').some((r) => r.status === 503)).toBe(true);
      const events = delivered();
      const perWebhookId = new Map<string, number>();
      for (const e of events) perWebhookId.set(e.id, (perWebhookId.get(e.id) ?? 0) + 1);
      const repeated = [...perWebhookId.values()].filter((n) => n > 1);
      expect(repeated.every((n) => n === 2)).toBe(true);
      expect(repeated.length).toBeLessThanOrEqual(MAX_IN_FLIGHT_AT_KILL);
      // One event per notification: a webhook id never carries two notifications, nor one notification two ids.
      const idsOfNotification = new Map<string, Set<string>>();
      for (const e of receiver.events('notification.created')) {
        const n = e.verified?.data['id'] as string;
        idsOfNotification.set(n, (idsOfNotification.get(n) ?? new Set()).add(e.id));
      }
      expect([...idsOfNotification.values()].filter((ids) => ids.size > 1)).toEqual([]);
    },
    120_000,
  );
});
