import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, type Chromium, launchChromium } from '../helpers/chromium.js';
import { consoleRun, POLL } from '../helpers/console-run.js';
import { connectedClient } from '../helpers/sdk-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The README's screenshot of the admin view, taken by this browser test: a real server with
 * real SDK clients connected, the overview after login with live figures on it. Every run
 * takes it and checks it is a PNG of the viewport's size; `SB_UPDATE_SCREENSHOT=1` also writes
 * it to docs/console-overview.png, the file the README shows (which must exist and be one).
 */

const ROOT = join(import.meta.dirname, '..', '..');
const SHOWN = join(ROOT, 'docs', 'console-overview.png');
const VIEWPORT = { width: 1280, height: 800 };

let s: TestServer;
let chromium: Chromium;
const cleanup: Array<() => void> = [];
const { problems, newPage, leave } = consoleRun(() => chromium.browser);

/** Width and height of a PNG (its IHDR chunk), after checking the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(true);
  s = await startTestServer();
  chromium = await launchChromium();
}, 60_000);

afterAll(async () => {
  for (const fn of cleanup) fn();
  await chromium?.close();
  await s?.close();
});

describe("the README's screenshot of the admin view", () => {
  it('is taken of the overview with three SDK clients connected, and the README shows it', async () => {
    for (const sub of ['alice', 'bob', 'carol']) {
      const c = await connectedClient(s.url, () => s.token({ sub, tenant: 'acme' }), cleanup);
      c.subscribe('project:launch');
    }
    const page = await newPage();
    await page.setViewportSize(VIEWPORT);
    await page.goto(`${s.httpUrl}/console/admin#key=${encodeURIComponent(s.apiKey)}`);
    await expect.poll(async () => Number(await page.getByTestId('connections-count').textContent()), POLL).toBeGreaterThanOrEqual(3);
    const png = await page.screenshot({ type: 'png' });
    expect(pngSize(png)).toEqual(VIEWPORT);
    if (process.env['SB_UPDATE_SCREENSHOT'] === '1') writeFileSync(SHOWN, png);

    expect(pngSize(readFileSync(SHOWN))).toEqual(VIEWPORT);
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('](docs/console-overview.png)');
    await leave(page, () => page.close());
    expect(problems).toEqual({ console: [], page: [], failed: [], http: [], csp: [] });
  }, 120_000);
});
