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
    expect(await count(first, 'sb_webhook_messages')).toBe(1);
    // A delivered message's delivery job is deleted when it succeeds: the message says delivered by itself.
    const { rows: deliveries } = await sql<{ n: number | string }>`select count(*) as n from sb_jobs where kind = 'webhooks.deliver'`.execute(
      first.server.storage.db,
    );
    expect(Number(deliveries[0]?.n)).toBe(0);
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

  it('deleting an endpoint drops its messages (more than a chunk), their attempts and pending deliveries, and stops its probe; another endpoint keeps its own', async () => {
    const db = await createTestDatabase(store);
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-webhook-delete-'));
    const [a, b] = [await WebhookReceiver.start(), await WebhookReceiver.start()];
    cleanup.push(
      () => db.drop(),
      () => rmSync(dataDir, { recursive: true, force: true }),
      () => a.close(),
      () => b.close(),
    );
    const s = await server(db, dataDir);
    const endpoint = async (r: WebhookReceiver) => {
      const res = await s.api('POST', '/webhooks/endpoints', { ...admin(s), body: { url: r.url, events: ['notification.created'] } });
      expect(res.status, res.text).toBe(201);
      r.secret = (res.body as { secret: string }).secret;
      return (res.body as { id: string }).id;
    };
    const [ea, eb] = [await endpoint(a), await endpoint(b)];
    const notify = async (from: number, n: number) => {
      const users = Array.from({ length: n }, (_, i) => `del${from + i}`);
      const res = await s.api('POST', '/notifications', { ...admin(s), body: { users, type: 'system', title: 'hello' } });
      expect(res.status, res.text).toBe(201);
    };
    const rowsOf = async (endpointId: string) => {
      const { rows } = await sql<{ id: string }>`select id from sb_webhook_messages where endpoint_id = ${endpointId}`.execute(s.server.storage.db);
      return rows.map((r) => r.id);
    };
    // (Signatures are not checked here: the clock of this file's servers is days ahead of the receivers'.)
    const delivered = (r: WebhookReceiver) => r.received.filter((x) => x.status === 200 && x.body.includes('"notification.created"')).length;
    await notify(0, 1000);
    await notify(1000, 100);
    await eventually(async () => delivered(a) === 1100 && delivered(b) === 1100, 20_000, 'the first 1,100 events delivered to both');
    // A fails from now on: its next events stay pending, with a failed attempt each, and a probe.
    a.answer(...Array.from({ length: 400 }, () => ({ status: 503 })));
    await notify(1100, 150);
    await eventually(async () => delivered(b) === 1250, 20_000, "B's 1,250 delivered");
    await eventually(async () => a.received.length === 1250, 20_000, "A's 150 failed attempts");
    const ids = await rowsOf(ea);
    expect(ids).toHaveLength(1250);
    const attempts = async () =>
      Number(
        (
          await sql<{
            n: number | string;
          }>`select count(*) as n from sb_webhook_attempts a join sb_webhook_messages m on m.id = a.message_id where m.endpoint_id = ${ea}`.execute(
            s.server.storage.db,
          )
        ).rows[0]?.n,
      );
    await eventually(async () => (await attempts()) === 1250, 20_000, 'every attempt to A recorded');

    const deleted = await s.api('DELETE', `/webhooks/endpoints/${ea}`, admin(s));
    expect(deleted.status, deleted.text).toBe(200);
    expect(await rowsOf(ea)).toEqual([]);
    expect(await count(s, 'sb_webhook_attempts')).toBe(1250); // B's only
    const { rows: jobs } = await sql<{ status: string; n: number | string }>`select status, count(*) as n from sb_jobs
      where kind = 'webhooks.deliver' and queue = ${ea} group by status`.execute(s.server.storage.db);
    expect(jobs).toEqual([]);
    const { rows: probes } = await sql<{ status: string }>`select status from sb_jobs where kind = 'webhooks.probe' and id like ${`probe:${ea}:%`}`.execute(
      s.server.storage.db,
    );
    expect(probes.map((p) => p.status)).toEqual(['cancelled']);
    expect(await rowsOf(eb)).toHaveLength(1250);

    // Past every retry and probe time: nothing more is sent to A.
    const before = a.received.length;
    clock.advance(DAY);
    await s.server.jobs.poll();
    await s.server.jobs.poll();
    expect(a.received.length).toBe(before);
    expect(((await s.api('GET', `/webhooks/endpoints/${eb}/messages?status=delivered`, admin(s))).body['messages'] as unknown[]).length).toBeGreaterThan(0);
  }, 120_000);
});
