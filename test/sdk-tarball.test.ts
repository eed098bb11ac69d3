import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

/**
 * `npm pack` of @switchboard/client installs in a fresh project with nothing else (the
 * protocol package travels inside it), offline, and its Node build talks to a real server.
 */
describe('the @switchboard/client tarball', () => {
  let s: TestServer;
  let dir = '';
  beforeAll(async () => {
    s = await startTestServer();
    dir = mkdtempSync(join(tmpdir(), 'sb-tarball-'));
  });
  afterAll(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs offline into a fresh project and connects, subscribes and publishes', async () => {
    await run('npm', ['pack', '--workspace', 'packages/client', '--pack-destination', dir], { cwd: root, timeout: 60_000 });
    expect(existsSync(join(root, 'packages', 'client', 'node_modules'))).toBe(false);
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz')) as string;
    const project = join(dir, 'app');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', type: 'module', private: true }));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(dir, tarball)], { cwd: project, timeout: 60_000 });
    writeFileSync(
      join(project, 'app.mjs'),
      `
      import { SwitchboardClient } from '@switchboard/client';
      import { notifications } from '@switchboard/client/notifications';
      const client = new SwitchboardClient(process.env.SB_URL, { token: process.env.SB_TOKEN });
      client.connect();
      const room = client.subscribe('project:tarball');
      const got = new Promise((resolve) => room.on('publication', (p) => resolve(p.data)));
      await room.publish({ from: 'tarball' });
      const { count } = await notifications(client).unreadCount();
      console.log(JSON.stringify({ data: await got, count }));
      client.disconnect();
    `,
    );
    // Node 20 has a WebSocket global behind this flag (22 has it by default).
    const { stdout } = await run(process.execPath, ['--experimental-websocket', 'app.mjs'], {
      cwd: project,
      timeout: 30_000,
      env: { ...process.env, SB_URL: s.url, SB_TOKEN: await s.token({ sub: 'tarball-user' }) },
    });
    expect(JSON.parse(stdout.trim().split('\n').at(-1) as string)).toEqual({ data: { from: 'tarball' }, count: 0 });
  }, 120_000);
});
