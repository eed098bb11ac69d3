import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { createTestDatabase, type DurableServer, STORES, type StoreName, startDurableServer, type TestDatabase } from './helpers.js';

/**
 * The webhook message log is kept `webhooks.keepMessages` (30 days), not as long as the job
 * runner keeps finished jobs (`jobs.keepFinished`, 7 days): the runner's sweep leaves the
 * deliveries' jobs, and the webhook sweep deletes each message with its attempts, its job
 * and (when no message needs it) its event, once it is older.
 */

const DAY = 86_400_000;

describe.each(STORES)('webhook message retention on %s', (store: StoreName) => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  const clock = new ManualClock();
  async function server(db: TestDatabase, dataDir: string): Promise<DurableServer> {
    const s = await startDurableServer(
      store,
      {
        keepDataDir: dataDir,
        now: clock.now,
        jobs: { pollInterval: '1h', keepFinished: '1d' },
        webhooks: { allowNetworks: ['127.0.0.1/32'] },
      },
      db,
    );
    cleanup.push(() => s.stop());
    return s;
  }
  const admin = (s: DurableServer) => ({ key: s.apiKey, tenant: 'acme' });
  const count = async (s: DurableServer, table: string) => {
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)}`.execute(s.server.storage.db);
    return Number(rows[0]?.n);
  };

  it('keeps a delivered message listed past jobs.keepFinished, and deletes it with its job and event after keepMessages', async () => {
    const db = await createTestDatabase(store);
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-webhook-retention-'));
    const receiver = await WebhookReceiver.start();
    cleanup.push(
      () => db.drop(),
      () => rmSync(dataDir, { recursive: true, force: true }),
      () => receiver.close(),
    );

    const first = await server(db, dataDir);
    const created = await first.api('POST', '/webhooks/endpoints', { ...admin(first), body: { url: receiver.url, events: ['webhook.test'] } });
    expect(created.status, created.text).toBe(201);
    const endpoint = created.body as { id: string; secret: string };
    receiver.secret = endpoint.secret;
    await first.api('POST', `/webhooks/endpoints/${endpoint.id}/test`, admin(first));
    const listed = async (s: DurableServer) =>
      ((await s.api('GET', `/webhooks/endpoints/${endpoint.id}/messages`, admin(s))).body['messages'] as Array<{ status: string }>).map((m) => m.status);
    await eventually(async () => (await listed(first)).join() === 'delivered', 5000, 'the test event delivered');

    // Ten days on, the job runner sweeps the finished jobs older than a day: not this one.
    clock.advance(10 * DAY);
    await first.server.jobs.poll();
    await first.server.jobs.poll();
    expect(await listed(first)).toEqual(['delivered']);
    expect(await count(first, 'sb_jobs')).toBeGreaterThanOrEqual(1);
    await cleanup.pop()?.();

    // Thirty-one days on, the sweep at start deletes the message, its attempt, its job and its event.
    clock.advance(21 * DAY);
    const second = await server(db, dataDir);
    expect(await listed(second)).toEqual([]);
    expect(await count(second, 'sb_webhook_messages')).toBe(0);
    expect(await count(second, 'sb_webhook_attempts')).toBe(0);
    expect(await count(second, 'sb_webhook_events')).toBe(0);
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from sb_jobs where kind = 'webhooks.deliver'`.execute(second.server.storage.db);
    expect(Number(rows[0]?.n)).toBe(0);
    expect(receiver.received).toHaveLength(1);
  });
});
