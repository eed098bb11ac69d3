import { existsSync, readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { eventually } from '../helpers/eventually.js';

/**
 * The SDK in a real browser (Debian's headless Chromium), with the browser's own
 * WebSocket, against a real server: one API for browsers and Node.
 */
const CHROMIUM = '/usr/bin/chromium';
const root = join(import.meta.dirname, '..', '..');

const PAGE = `<!doctype html><html><head><script type="importmap">
{"imports":{"@switchboard/protocol":"/protocol/index.js","@switchboard/client":"/client/index.js"}}
</script></head><body><script type="module">
import { SwitchboardClient } from '@switchboard/client';
window.runScenario = async (url, token) => {
  const client = new SwitchboardClient(url, { token });
  const states = [];
  client.on('state', (e) => states.push(e.state));
  const room = client.subscribe('project:browser');
  const got = [];
  room.on('publication', (p) => got.push(p.data));
  const subscribed = new Promise((r) => room.once('subscribed', r));
  client.connect();
  await subscribed;
  await room.enterPresence({ page: '/board' });
  const pub = await room.publish({ from: 'browser' });
  await new Promise((resolve) => { const t = setInterval(() => { if (got.length >= 2) { clearInterval(t); resolve(); } }, 20); });
  const presence = await room.presence();
  client.disconnect();
  return { states, got, offset: pub.offset, presence };
};
window.ready = true;
</script></body></html>`;

function staticServer(): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      return;
    }
    const m = /^\/(client|protocol)\/(.+)$/.exec(path);
    const file = m ? normalize(join(root, 'packages', m[1] as string, 'dist', m[2] as string)) : '';
    if (!m || !file.startsWith(join(root, 'packages')) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

describe('the SDK in headless Chromium', () => {
  let s: TestServer;
  let web: Server;
  let browser: BrowserContext;
  let userDir: string;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(true);
    s = await startTestServer();
    web = await staticServer();
    userDir = mkdtempSync(join(tmpdir(), 'sb-chromium-'));
    // A fresh profile directory per run (the persistent context is how a user-data-dir is given).
    browser = await chromium.launchPersistentContext(userDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    web?.close();
    await s?.close();
    if (userDir) rmSync(userDir, { recursive: true, force: true });
  });

  it('connects with the browser WebSocket, subscribes, enters presence, publishes and receives API publications', async () => {
    const page = await browser.newPage();
    const origin = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const token = await s.token({ sub: 'browser-user', tenant: 'demo' });
    const run = page.evaluate(([url, t]) => (window as unknown as { runScenario(u: string, t: string): Promise<unknown> }).runScenario(url as string, t as string), [s.url, token]);
    // The backend publishes too, once the browser's subscription exists.
    await eventually(() => s.server.node.hub.subscribers('demo|project:browser') > 0, 10_000, 'the browser\'s subscription');
    const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'demo', 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'project:browser', data: { from: 'backend' } }),
    });
    expect(res.status).toBe(200);
    const result = (await run) as { states: string[]; got: Array<{ from: string }>; offset: number; presence: Array<{ user: string; devices: Array<{ state: unknown }> }> };
    expect(result.states.slice(0, 2)).toEqual(['connecting', 'connected']);
    expect(result.got.map((g) => g.from).sort()).toEqual(['backend', 'browser']);
    expect(result.presence[0]?.user).toBe('browser-user');
    expect(result.presence[0]?.devices[0]?.state).toEqual({ page: '/board' });
    await page.close();
  });
});
