import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlockingProxy, startBlockingProxy } from '../helpers/blocking-proxy.js';
import { CHROMIUM, type Chromium, launchChromium, type PageServer, startPageServer } from '../helpers/chromium.js';
import { eventually } from '../helpers/eventually.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The SDK in headless Chromium behind a proxy that refuses every WebSocket upgrade (as some
 * corporate proxies do): the browser's WebSocket fails, the SDK falls back to Server-Sent
 * Events + POST through the same proxy (cross-origin, with the browser's own fetch) and
 * works as over a WebSocket.
 */
const PAGE = `<!doctype html><html><head><script type="importmap">
{"imports":{"@switchboard/protocol":"/protocol/index.js","@switchboard/client":"/client/index.js"}}
</script></head><body><script type="module">
import { SwitchboardClient } from '@switchboard/client';
window.runScenario = async (url, token) => {
  const client = new SwitchboardClient(url, { token, fallbackAfter: 1, upgradeInterval: 0, backoff: { minDelay: 50, maxDelay: 200 } });
  const codes = [];
  client.on('state', (e) => codes.push(e.state + ':' + e.code));
  client.on('reconnecting', (e) => codes.push('reconnecting:' + e.code));
  const room = client.subscribe('project:fallback');
  const got = [];
  let gotBoth;
  const both = new Promise((r) => (gotBoth = r));
  room.on('publication', (p) => { if (got.push(p.data) === 2) gotBoth(); });
  const subscribed = new Promise((r) => room.once('subscribed', r));
  client.connect();
  await subscribed;
  const transport = client.transport;
  await room.enterPresence({ page: '/behind-proxy' });
  const pub = await room.publish({ from: 'browser' });
  await both;
  const presence = await room.presence();
  client.disconnect();
  return { transport, codes, got, offset: pub.offset, presence };
};
window.ready = true;
</script></body></html>`;

describe('the SDK in headless Chromium behind a proxy that blocks WebSockets', () => {
  let s: TestServer;
  let proxy: BlockingProxy;
  let web: PageServer;
  let chromium: Chromium;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(true);
    s = await startTestServer();
    proxy = await startBlockingProxy(s.port);
    web = await startPageServer();
    web.pages.set('/', PAGE);
    chromium = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await chromium?.close();
    await web?.close();
    await proxy?.close();
    await s?.close();
  });

  it('falls back to SSE + POST, subscribes, enters presence, publishes and receives API publications', async () => {
    const page = await chromium.browser.newPage();
    await page.goto(`${web.origin}/`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const token = await s.token({ sub: 'browser-user', tenant: 'demo' });
    const run = page.evaluate(
      ([url, t]) => (window as unknown as { runScenario(u: string, t: string): Promise<unknown> }).runScenario(url as string, t as string),
      [proxy.url, token],
    );
    await eventually(() => s.server.node.hub.subscribers('demo|project:fallback') > 0, 15_000, "the browser's subscription");
    const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'demo', 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'project:fallback', data: { from: 'backend' } }),
    });
    expect(res.status).toBe(200);
    const result = (await run) as {
      transport: string;
      codes: string[];
      got: Array<{ from: string }>;
      offset: number;
      presence: Array<{ user: string; devices: Array<{ state: unknown }> }>;
    };
    expect(result.transport).toBe('sse');
    expect(proxy.refused).toBeGreaterThanOrEqual(1);
    expect(proxy.upgraded).toBe(0);
    // The WebSocket attempt failed (1006), the retry went over the fallback and connected.
    expect(result.codes.slice(0, 3)).toEqual(['connecting:0', 'reconnecting:1006', 'connected:2']);
    expect(result.got.map((g) => g.from).sort()).toEqual(['backend', 'browser']);
    expect(result.offset).toBeGreaterThan(0);
    expect(result.presence[0]?.user).toBe('browser-user');
    expect(result.presence[0]?.devices[0]?.state).toEqual({ page: '/behind-proxy' });
    await page.close();
  });
});
