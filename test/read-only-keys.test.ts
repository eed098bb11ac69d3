import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createStoredApiKey } from '@switchboard/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Read-only API keys (`switchboard apikey create --read-only`): every GET route answers as
 * for any key, and every other method is refused with 403 and code 158 before anything is
 * done, on the kernel's routes and the features' alike, for tenant and admin keys.
 */
const BIN = join(import.meta.dirname, '..', 'packages', 'server', 'bin', 'switchboard.js');
const run = promisify(execFile);

let s: TestServer;
let tenantKey: string;
let adminKey: string;

async function create(args: string[]): Promise<{ id: string; key: string }> {
  const { stdout } = await run(process.execPath, [BIN, 'apikey', 'create', ...args, '--data', s.dataDir], { env: { PATH: process.env['PATH'] } });
  const [header, key] = stdout.trim().split('\n') as [string, string];
  return { id: (/API key (\w+)/.exec(header) as RegExpExecArray)[1] as string, key };
}

async function call(method: string, path: string, key: string, opts: { tenant?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (opts.tenant) headers['x-switchboard-tenant'] = opts.tenant;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${s.httpUrl}/api/v1${path}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, { code?: number }> & Record<string, unknown> };
}

beforeAll(async () => {
  s = await startTestServer();
  // Stored as `apikey create --read-only` stores them (the CLI itself is tested below).
  tenantKey = createStoredApiKey(s.dataDir, 'acme', true).key;
  adminKey = createStoredApiKey(s.dataDir, null, true).key;
});
afterAll(async () => {
  await s?.close();
});

describe('read-only API keys', () => {
  it('the CLI creates them and lists them as read-only, never showing the key; the server refuses a write with one at once', async () => {
    const { id, key } = await create(['--tenant', 'other', '--read-only']);
    const { stdout } = await run(process.execPath, [BIN, 'apikey', 'list', '--data', s.dataDir], { env: { PATH: process.env['PATH'] } });
    expect(stdout).toContain(`${id}  tenant other, read-only`);
    expect(stdout).not.toContain(key);
    expect((await call('GET', '/key', key)).body).toMatchObject({ tenant: 'other', readOnly: true });
    expect((await call('POST', '/publish', key, { body: { channel: 'project:1', data: 1 } })).status).toBe(403);
  }, 60_000);

  it('read every GET route they are allowed to, and say so at GET /key', async () => {
    expect(await call('GET', '/key', tenantKey)).toMatchObject({ status: 200, body: { admin: false, tenant: 'acme', readOnly: true } });
    expect(await call('GET', '/key', adminKey)).toMatchObject({ status: 200, body: { admin: true, tenant: null, readOnly: true } });
    expect((await call('GET', '/channels', tenantKey)).status).toBe(200);
    expect((await call('GET', '/connections', adminKey)).status).toBe(200);
    expect((await call('GET', '/channels/project:1/history', adminKey, { tenant: 'acme' })).status).toBe(200);
    expect((await call('GET', '/notifications?user=alice', tenantKey)).status).toBe(200);
  });

  it('are refused with 403 and code 158 on every route that changes something, and nothing is done', async () => {
    const refused = [
      ['POST', '/publish', { channel: 'project:1', data: { x: 1 } }],
      ['POST', '/batch', { publications: [{ channel: 'project:1', data: 1 }] }],
      ['DELETE', '/channels/project:1/history', undefined],
      ['POST', '/users/alice/disconnect', {}],
      ['POST', '/notifications', { users: ['alice'], type: 'mention', title: 'hi' }],
      ['PUT', '/tenants/acme/quotas', { connections: 1 }],
    ] as const;
    for (const key of [tenantKey, adminKey]) {
      for (const [method, path, body] of refused) {
        const res = await call(method, path, key, { tenant: 'acme', ...(body !== undefined ? { body } : {}) });
        expect(res.status, `${method} ${path}`).toBe(403);
        expect(res.body['error'], `${method} ${path}`).toMatchObject({ code: 158, temporary: false });
      }
    }
    const history = await call('GET', '/channels/project:1/history', s.tenantKeys['acme'] as string);
    expect(history.body['publications']).toEqual([]);
    const notifications = await call('GET', '/notifications?user=alice', s.tenantKeys['acme'] as string);
    expect(notifications.body['notifications']).toEqual([]);
  });

  it('an ordinary key of the same tenant still changes what the read-only one may not', async () => {
    const res = await call('POST', '/publish', s.tenantKeys['acme'] as string, { body: { channel: 'project:2', data: 'ok' } });
    expect(res.status).toBe(200);
  });
});
