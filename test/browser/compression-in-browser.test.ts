import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, type Chromium, launchChromium, type PageServer, startPageServer } from '../helpers/chromium.js';
import { eventually } from '../helpers/eventually.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Headless Chromium offers permessage-deflate by itself: the server's answer is what the
 * browser agreed to (context takeover on the server's side), and the SDK reads compressed and
 * uncompressed messages, single and batched, alone and from a channel's shared stream, byte
 * for byte.
 */
const PAGE = `<!doctype html><html><head><script type="importmap">
{"imports":{"@switchboard/protocol":"/protocol/index.js","@switchboard/client":"/client/index.js"}}
</script></head><body><script type="module">
import { SwitchboardClient } from '@switchboard/client';
window.extensions = (url) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url);
  ws.onopen = () => { resolve(ws.extensions); ws.close(); };
  ws.onerror = () => reject(new Error('no upgrade'));
});
window.receive = async (url, token, count, channel = 'project:zip') => {
  const client = new SwitchboardClient(url, { token });
  const room = client.subscribe(channel);
  const got = [];
  let done;
  const all = new Promise((r) => (done = r));
  room.on('publication', (p) => { if (got.push(p.data) === count) done(); });
  const subscribed = new Promise((r) => room.once('subscribed', r));
  client.connect();
  await subscribed;
  window.subscribed = (window.subscribed ?? 0) + 1;
  await all;
  client.disconnect();
  return got;
};
window.ready = true;
</script></body></html>`;

const big = (i: number) => ({ i, text: `publication ${i} `.repeat(60), list: Array.from({ length: 20 }, (_, k) => ({ k, v: `välue-${k} ✓` })) });

describe('compression in headless Chromium', () => {
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

  it('the browser negotiates permessage-deflate and the SDK receives small, large and batched publications byte for byte', async () => {
    const page = await chromium.browser.newPage();
    await page.goto(`${web.origin}/`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const extensions = await page.evaluate((url) => (window as unknown as { extensions(u: string): Promise<string> }).extensions(url), s.url);
    expect(extensions).toBe('permessage-deflate; client_no_context_takeover; client_max_window_bits=10');

    const token = await s.token({ sub: 'browser-user' });
    const expected: unknown[] = [{ small: 1 }, big(1), ...Array.from({ length: 30 }, (_, i) => (i % 4 === 0 ? { small: i } : big(100 + i)))];
    const run = page.evaluate(
      ([url, t, n]) => (window as unknown as { receive(u: string, t: string, n: number): Promise<unknown[]> }).receive(url as string, t as string, n as number),
      [s.url, token, expected.length] as const,
    );
    await page.waitForFunction(() => (window as unknown as { subscribed?: number }).subscribed === 1);
    const compressed = s.server.node.stats.compressedMessages;
    const post = (path: string, body: unknown) =>
      fetch(`${s.httpUrl}/api/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post('/publish', { channel: 'project:zip', data: expected[0] })).status).toBe(200);
    expect((await post('/publish', { channel: 'project:zip', data: expected[1] })).status).toBe(200);
    expect((await post('/batch', { publications: expected.slice(2).map((data) => ({ channel: 'project:zip', data })) })).status).toBe(200);
    expect(await run).toEqual(expected);
    await eventually(() => s.server.node.stats.compressedMessages > compressed, 5000, 'compressed messages counted');
    await page.close();
  });

  it('two browser tabs on one channel read a run of slowly changing documents from its shared stream (context takeover), byte for byte', async () => {
    const pages = [await chromium.browser.newPage(), await chromium.browser.newPage()];
    const documents = Array.from({ length: 40 }, (_, i) => ({
      rows: Array.from({ length: 18 }, (_, k) => ({ name: `row ${k}`, label: `dashboard metric ${k} ✓`, v: k % 5 === 0 ? i * 7 + k : k })),
    }));
    const runs = [];
    for (const page of pages) {
      await page.goto(`${web.origin}/`);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      const token = await s.token({ sub: 'browser-user' });
      runs.push(
        page.evaluate(
          ([url, t, n]) =>
            (window as unknown as { receive(u: string, t: string, n: number, c: string): Promise<unknown[]> }).receive(
              url as string,
              t as string,
              n as number,
              'project:stream',
            ),
          [s.url, token, documents.length] as const,
        ),
      );
      await page.waitForFunction(() => (window as unknown as { subscribed?: number }).subscribed === 1);
    }
    const stats = s.server.node.stats;
    const shared = stats.sharedCompressedMessages;
    for (const data of documents) {
      const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'project:stream', data }),
      });
      expect(res.status).toBe(200);
    }
    for (const run of runs) expect(await run).toEqual(documents);
    // Both tabs were in step with the stream for nearly every publication (two restarts at most: its start, one for the later tab).
    expect(stats.sharedCompressedMessages - shared).toBeGreaterThanOrEqual(2 * documents.length - 4);
    for (const page of pages) await page.close();
  });
});
