import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@switchboard/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { createTestDatabase, type DurableServer, expectApiError, STORES, type StoreName, startDurableServer, type TestDatabase } from './helpers.js';

/**
 * Webhook endpoints declared in the config file (`webhooks.endpoints`), on both stores:
 * created at start with the operator's secret, listed as `declared`, out of the API's reach
 * (PATCH, DELETE, rotate: 409 / 132), brought in line at the next start (a changed secret
 * rotates, both signatures for the overlap), deleted once removed from the config, and a
 * declared URL the SSRF rules refuse stops the start.
 */

const SECRET_A = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const SECRET_B = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

interface Endpoint {
  id: string;
  url: string;
  events: string[];
  declared: boolean;
  description: string;
}

describe.each(STORES)('webhook endpoints declared in the config on %s', (store: StoreName) => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function server(db: TestDatabase, dataDir: string, endpoints: unknown[]): Promise<DurableServer> {
    const s = await startDurableServer(store, { keepDataDir: dataDir, webhooks: { allowNetworks: ['127.0.0.1/32'], endpoints, maxEndpoints: 1 } }, db);
    cleanup.push(() => s.stop());
    return s;
  }
  const as = (s: DurableServer, tenant: string) => ({ key: s.apiKey, tenant });
  const list = async (s: DurableServer, tenant: string) =>
    ((await s.api('GET', '/webhooks/endpoints', as(s, tenant))).body['endpoints'] as Endpoint[]).sort((a, b) => a.url.localeCompare(b.url));

  it('creates them at start with their secret, keeps them out of the API, updates and deletes them with the config', async () => {
    const db = await createTestDatabase(store);
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-webhook-declared-'));
    const a = await WebhookReceiver.start();
    const b = await WebhookReceiver.start();
    cleanup.push(
      () => db.drop(),
      () => rmSync(dataDir, { recursive: true, force: true }),
      () => a.close(),
      () => b.close(),
    );
    const declared = [
      { id: 'billing', tenant: 'acme', url: a.url, events: ['webhook.test'], secret: SECRET_A, description: 'billing backend' },
      { id: 'audit', tenant: 'acme', url: b.url, events: ['audit.*'], secret: SECRET_B },
      { id: 'billing', tenant: 'other', url: b.url, events: ['webhook.test'], secret: SECRET_B },
    ];

    const first = await server(db, dataDir, declared);
    const acme = await list(first, 'acme');
    expect(acme.map((e) => ({ url: e.url, events: e.events, declared: e.declared }))).toEqual(
      [
        { url: a.url, events: ['webhook.test'], declared: true },
        { url: b.url, events: ['audit.*'], declared: true },
      ].sort((x, y) => x.url.localeCompare(y.url)),
    );
    // Tenant isolation: the other tenant's declared endpoint is its own (another id), invisible to acme.
    const other = await list(first, 'other');
    expect(other).toHaveLength(1);
    expect(acme.map((e) => e.id)).not.toContain(other[0]?.id);
    expectApiError(await first.api('GET', `/webhooks/endpoints/${other[0]?.id}`, as(first, 'acme')), 404, ErrorCode.NotFound.code);

    // Signed with the declared secret.
    const billing = acme.find((e) => e.url === a.url) as Endpoint;
    a.secret = SECRET_A;
    expect((await first.api('POST', `/webhooks/endpoints/${billing.id}/test`, as(first, 'acme'))).status).toBe(202);
    await eventually(() => a.events('webhook.test').length === 1, 5000, 'the test event, verified with the declared secret');

    // The API cannot change or delete it; an API endpoint beside it is the API's.
    expectApiError(await first.api('PATCH', `/webhooks/endpoints/${billing.id}`, { ...as(first, 'acme'), body: { url: b.url } }), 409, ErrorCode.Conflict.code);
    expectApiError(await first.api('DELETE', `/webhooks/endpoints/${billing.id}`, as(first, 'acme')), 409, ErrorCode.Conflict.code);
    expectApiError(await first.api('POST', `/webhooks/endpoints/${billing.id}/rotate-secret`, as(first, 'acme')), 409, ErrorCode.Conflict.code);
    const own = await first.api('POST', '/webhooks/endpoints', { ...as(first, 'acme'), body: { url: a.url, events: ['connection.*'] } });
    expect(own.status, own.text).toBe(201);
    expect(own.body['declared']).toBe(false);
    // Declared endpoints are outside the tenant's cap (1 here): the API's own first one fit, a second does not.
    const over = await first.api('POST', '/webhooks/endpoints', { ...as(first, 'acme'), body: { url: b.url, events: ['connection.*'] } });
    expectApiError(over, 422, ErrorCode.LimitExceeded.code);
    await cleanup.pop()?.();

    // Next start: billing gets a new secret (both signatures during the overlap), audit is gone.
    const rotated = `whsec_${Buffer.alloc(32, 8).toString('base64')}`;
    const second = await server(db, dataDir, [{ ...declared[0], secret: rotated, description: 'billing v2' }, declared[2]]);
    const after = await list(second, 'acme');
    expect(after.map((e) => [e.id, e.declared, e.description]).sort()).toEqual(
      [
        [billing.id, true, 'billing v2'],
        [own.body['id'], false, ''],
      ].sort(),
    );
    await second.api('POST', `/webhooks/endpoints/${billing.id}/test`, as(second, 'acme'));
    await eventually(() => a.events('webhook.test').length === 2, 5000, 'verified with the old secret during the overlap');
    a.secret = rotated;
    await second.api('POST', `/webhooks/endpoints/${billing.id}/test`, as(second, 'acme'));
    await eventually(() => a.events('webhook.test').length === 3, 5000, 'verified with the new secret');
    expect((await list(second, 'other')).map((e) => e.id)).toEqual(other.map((e) => e.id));
  });

  it('refuses to start when a declared URL is refused by the SSRF rules or names an unknown event type, and writes nothing', async () => {
    const db = await createTestDatabase(store);
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-webhook-declared-'));
    cleanup.push(
      () => db.drop(),
      () => rmSync(dataDir, { recursive: true, force: true }),
    );
    const metadata = [{ id: 'x', tenant: 'acme', url: 'http://169.254.169.254/latest', events: ['webhook.test'], secret: SECRET_A }];
    await expect(server(db, dataDir, metadata)).rejects.toThrow(/webhooks\.endpoints\[0\]\.url/);
    const unknown = [{ id: 'x', tenant: 'acme', url: 'http://127.0.0.1:9/h', events: ['channel.exploded'], secret: SECRET_A }];
    await expect(server(db, dataDir, unknown)).rejects.toThrow(/channel\.exploded/);
    const weak = [{ id: 'x', tenant: 'acme', url: 'http://127.0.0.1:9/h', events: ['webhook.test'], secret: 'whsec_c2hvcnQ=' }];
    await expect(server(db, dataDir, weak)).rejects.toThrow(/24 or more random bytes/);
    const fine = await server(db, dataDir, []);
    expect(await list(fine, 'acme')).toEqual([]);
  });
});
