import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, type Chromium, launchChromium, type PageServer, startPageServer } from '../helpers/chromium.js';
import { eventually } from '../helpers/eventually.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The SDK in a real browser (Debian's headless Chromium), with the browser's own
 * WebSocket, against a real server: one API for browsers and Node.
 */
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
  let gotBoth;
  const both = new Promise((r) => (gotBoth = r));
  room.on('publication', (p) => { if (got.push(p.data) === 2) gotBoth(); });
  const subscribed = new Promise((r) => room.once('subscribed', r));
  client.connect();
  await subscribed;
  await room.enterPresence({ page: '/board' });
  const pub = await room.publish({ from: 'browser' });
  await both;
  const presence = await room.presence();
  client.disconnect();
  return { states, got, offset: pub.offset, presence };
};
window.ready = true;
</script></body></html>`;

describe('the SDK in headless Chromium', () => {
  let s: TestServer;
  let web: PageServer;
  let chromium: Chromium;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(true);
    s = await startTestServer();
    web = await startPageServer();
    web.pages.set('/', PAGE);
    chromium = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await chromium?.close();
    await web?.close();
    await s?.close();
  });

  it('connects with the browser WebSocket, subscribes, enters presence, publishes and receives API publications', async () => {
    const page = await chromium.browser.newPage();
    const { origin } = web;
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const token = await s.token({ sub: 'browser-user', tenant: 'demo' });
    const run = page.evaluate(
      ([url, t]) => (window as unknown as { runScenario(u: string, t: string): Promise<unknown> }).runScenario(url as string, t as string),
      [s.url, token],
    );
    // The backend publishes too, once the browser's subscription exists.
    await eventually(() => s.server.node.hub.subscribers('demo|project:browser') > 0, 10_000, "the browser's subscription");
    const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'demo', 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'project:browser', data: { from: 'backend' } }),
    });
    expect(res.status).toBe(200);
    const result = (await run) as {
      states: string[];
      got: Array<{ from: string }>;
      offset: number;
      presence: Array<{ user: string; devices: Array<{ state: unknown }> }>;
    };
    expect(result.states.slice(0, 2)).toEqual(['connecting', 'connected']);
    expect(result.got.map((g) => g.from).sort()).toEqual(['backend', 'browser']);
    expect(result.presence[0]?.user).toBe('browser-user');
    expect(result.presence[0]?.devices[0]?.state).toEqual({ page: '/board' });
    await page.close();
  });

  describe('served by the Switchboard server itself, to a page of another origin', () => {
    /** A page that runs `scenario` (a script body defining window.run) once the SDK loaded. */
    const sdkScenario = `
      window.run = async (url, token) => {
        const client = new SDK.SwitchboardClient(url, { token });
        client.connect();
        const room = client.subscribe('project:served');
        const got = [];
        const received = new Promise((r) => room.once('publication', r));
        room.on('publication', (p) => got.push(p.data));
        const pub = await room.publish({ from: 'served' });
        await received;
        const inbox = SDK.notifications(client);
        const count = await inbox.unreadCount();
        client.disconnect();
        return { offset: pub.offset, got, count: count.count };
      };
      window.ready = true;`;

    async function manifest(): Promise<{ build: string; files: Record<string, { integrity: string }> }> {
      const res = await fetch(`${s.httpUrl}/sdk/manifest.json`);
      expect(res.status).toBe(200);
      return (await res.json()) as { build: string; files: Record<string, { integrity: string }> };
    }

    async function runPage(path: string, html: string): Promise<{ offset: number; got: Array<{ from: string }>; count: number }> {
      web.pages.set(path, html);
      const page = await chromium.browser.newPage();
      await page.goto(`${web.origin}${path}`);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, undefined, { timeout: 10_000 });
      const token = await s.token({ sub: 'served-user', tenant: 'demo' });
      const result = await page.evaluate(
        ([url, t]) => (window as unknown as { run(u: string, t: string): Promise<unknown> }).run(url as string, t as string),
        [s.url, token],
      );
      await page.close();
      return result as { offset: number; got: Array<{ from: string }>; count: number };
    }

    it('as a classic script with its integrity value, defining the global Switchboard', async () => {
      const m = await manifest();
      const src = `${s.httpUrl}/sdk/${m.build}/switchboard.js`;
      const integrity = m.files['switchboard.js']?.integrity as string;
      const result = await runPage(
        '/classic',
        `<!doctype html><html><head>
        <script src="${src}" integrity="${integrity}" crossorigin="anonymous"></script></head><body>
        <script>const SDK = window.Switchboard;${sdkScenario}</script></body></html>`,
      );
      expect(result.got).toEqual([{ from: 'served' }]);
      expect(result.offset).toBeGreaterThan(0);
      expect(result.count).toBe(0);
    });

    it('as ES modules (core and a feature module) imported across origins', async () => {
      const m = await manifest();
      const base = `${s.httpUrl}/sdk/${m.build}`;
      const result = await runPage(
        '/esm',
        `<!doctype html><html><body><script type="module">
        import { SwitchboardClient } from '${base}/switchboard.mjs';
        import { notifications } from '${base}/notifications.mjs';
        const SDK = { SwitchboardClient, notifications };${sdkScenario}</script></body></html>`,
      );
      expect(result.got).toEqual([{ from: 'served' }]);
    });

    it('refuses to run a script whose integrity value does not match', async () => {
      const m = await manifest();
      web.pages.set(
        '/tampered',
        `<!doctype html><html><head>
        <script src="${s.httpUrl}/sdk/${m.build}/switchboard.js" integrity="sha384-${'A'.repeat(64)}" crossorigin="anonymous"></script></head>
        <body><script>window.loaded = typeof window.Switchboard; window.ready = true;</script></body></html>`,
      );
      const page = await chromium.browser.newPage();
      await page.goto(`${web.origin}/tampered`);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      expect(await page.evaluate(() => (window as unknown as { loaded: string }).loaded)).toBe('undefined');
      await page.close();
    });
  });

  it('a page whose Origin the server refuses gets a terminal OriginRefused naming it, and the server counts it', async () => {
    const strict = await startTestServer({ development: false, auth: { secret: 'x'.repeat(40) }, allowedOrigins: ['https://app.example'] });
    try {
      const { origin } = web;
      const m = (await (await fetch(`${strict.httpUrl}/sdk/manifest.json`)).json()) as { build: string };
      web.pages.set(
        '/refused',
        `<!doctype html><html><body><script type="module">
        import { SwitchboardClient } from '${strict.httpUrl}/sdk/${m.build}/switchboard.mjs';
        window.run = (url, token) => new Promise((resolve) => {
          const client = new SwitchboardClient(url, { token, backoff: { minDelay: 50, maxDelay: 100 } });
          let attempts = 0;
          client.on('connecting', () => { attempts++; });
          client.on('disconnected', (e) => resolve({ code: e.code, reason: e.reason, attempts }));
          client.connect();
        });
        window.ready = true;</script></body></html>`,
      );
      const page = await chromium.browser.newPage();
      await page.goto(`${origin}/refused`);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      const token = await strict.token({ sub: 'refused-user', tenant: 'demo' });
      const result = (await page.evaluate(
        ([url, t]) => (window as unknown as { run(u: string, t: string): Promise<unknown> }).run(url as string, t as string),
        [strict.url, token],
      )) as { code: number; reason: string; attempts: number };
      await page.close();
      expect(result.code).toBe(26);
      expect(result.reason).toContain(origin);
      expect(result.reason).toContain('allowedOrigins');
      const metrics = await (await fetch(`${strict.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/switchboard_drops_total\{reason="forbidden_origin"\} [1-9]/);
      const probe = await fetch(`${strict.httpUrl}/ws`, { headers: { origin: 'https://app.example' } });
      expect(await probe.json()).toEqual({ websocket: 'ok' });
      expect(probe.headers.get('access-control-allow-origin')).toBe('https://app.example');
    } finally {
      await strict.close();
    }
  });
});
