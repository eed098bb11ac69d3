// @vitest-environment node
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, type Chromium, launchChromium, type PageServer, startPageServer } from '../../../test/helpers/chromium.js';
import { type Harness, harness } from './harness.js';
import { api } from './http-api.js';
import { member } from './members.js';

/**
 * `@switchboard/react/styles.css` in real headless Chromium, over a real server: the
 * components' default look comes from the stylesheet (a file: the page allows no inline
 * style), the CSS variables theme it, and an app's rule of the same weight wins over it.
 */
const APP = `
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { SwitchboardClient } from '@switchboard/client';
import { AvatarStack, ConnectionStatus, LiveCursors, NotificationBell, SwitchboardProvider, Toaster } from '@switchboard/react';

window.violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.violations.push(e.violatedDirective));

window.start = (url, token) => {
  const client = new SwitchboardClient(url, { token });
  client.connect();
  createRoot(document.getElementById('root')).render(
    h(SwitchboardProvider, { client },
      h(ConnectionStatus),
      h('div', { className: 'flat' }, h(AvatarStack, { channel: 'project:styles' })),
      h(NotificationBell),
      h(LiveCursors, { channel: 'project:styles', style: { width: 200, height: 100 } }),
      h(Toaster, { duration: 0 })),
  );
};

/** Computed values of the first element matching each selector. */
window.look = (wanted) => Object.fromEntries(Object.entries(wanted).map(([selector, props]) => {
  const e = document.querySelector(selector);
  const s = e && getComputedStyle(e);
  return [selector, s && Object.fromEntries(props.map((p) => [p, s.getPropertyValue(p)]))];
}));
window.ready = true;
`;

/** The app's own stylesheet, linked before the package's: a variable set, and one rule as heavy as the package's. */
const APP_CSS = `
:root { --sb-avatar-bg: rgb(1, 2, 3); --sb-connection-dot-size: 10px; }
.flat .sb-avatar-status { border-radius: 0; }
.sb-avatar-more, .sb-toast { border-radius: 4px; }
`;

const PAGE =
  '<!doctype html><html lang="en"><head><title>styles</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/app.css"><link rel="stylesheet" href="/styles.css"></head><body><div id="root"></div><script type="module" src="/app.js"></script></body></html>';

type Look = Record<string, Record<string, string> | null>;

describe('the components with @switchboard/react/styles.css in headless Chromium', () => {
  let t: Harness;
  let web: PageServer;
  let chromium: Chromium;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(true);
    const bundle = await build({
      stdin: { contents: APP, resolveDir: import.meta.dirname, loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
    });
    const js = bundle.outputFiles[0]?.text as string;
    const styles = readFileSync(join(import.meta.dirname, '..', 'styles.css'), 'utf8');
    t = await harness();
    web = await startPageServer();
    // A strict style policy, as the console's: stylesheets of this origin only, no inline style.
    web.routes.set('/', (_req, res) => res.writeHead(200, { 'content-type': 'text/html', 'content-security-policy': "style-src 'self'" }).end(PAGE));
    web.routes.set('/app.js', (_req, res) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(js));
    web.routes.set('/app.css', (_req, res) => res.writeHead(200, { 'content-type': 'text/css' }).end(APP_CSS));
    web.routes.set('/styles.css', (_req, res) => res.writeHead(200, { 'content-type': 'text/css' }).end(styles));
    chromium = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await chromium?.close();
    await web?.close();
    await t?.close();
  });

  it('draws the dots, avatars, badge and toasts from the stylesheet and its variables, lets the app’s rules win, and breaks no style policy', async () => {
    const page = await chromium.browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${web.origin}/`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    // Six present: one past the stack's five, for the `+N` avatar.
    const others = await Promise.all(['bob', 'cy', 'dee', 'eve', 'fay', 'gus'].map((user) => member(t, user, 'project:styles', null)));
    const token = await t.server.token({ sub: 'ann' });
    await page.evaluate(([url, tk]) => (window as unknown as { start: (...a: unknown[]) => void }).start(url, tk), [t.server.url, token] as const);
    await page.waitForSelector('[data-testid="connection-status"][data-state="connected"]', { timeout: 30_000 });
    await page.waitForSelector('.sb-avatar-more', { timeout: 30_000 });
    await expect.poll(() => t.counts.live('user:ann'), { timeout: 30_000 }).toBeGreaterThan(0);
    const look = (wanted: Record<string, string[]>) =>
      page.evaluate((w) => (window as unknown as { look: (w: Record<string, string[]>) => Look }).look(w), wanted);
    // Hidden at zero unread: the stylesheet does not undo `hidden`.
    expect(await look({ '[data-testid="notification-count"]': ['display'] })).toEqual({ '[data-testid="notification-count"]': { display: 'none' } });
    await api(t, 'POST', '/notifications', { user: 'ann', type: 'alert', title: 'Disk full', priority: 'critical' });
    await page.waitForSelector('[data-testid="toast"]', { timeout: 30_000 });

    await page.waitForSelector('[data-testid="notification-count"][data-count="1"]', { timeout: 30_000 });
    expect(
      await look({
        '.sb-connection-dot': ['display', 'width', 'border-radius', 'background-color'],
        '.sb-avatar-stack': ['display', 'list-style-type'],
        '.sb-avatar': ['display', 'position', 'background-color', 'border-top-left-radius'],
        '.sb-avatar-more': ['background-color', 'border-top-left-radius'],
        '.sb-avatar-status': ['position', 'background-color', 'border-top-left-radius'],
        '.sb-bell': ['position'],
        '[data-testid="notification-count"]': ['position', 'background-color', 'display'],
        '.sb-toaster': ['position', 'z-index', 'display'],
        '.sb-toast': ['background-color', 'color', 'border-top-left-radius'],
        '.sb-live-cursors': ['position'],
        '.sb-cursor-layer': ['position', 'pointer-events'],
      }),
    ).toEqual({
      // Connected: its variable's default colour; the size from the app's variable.
      '.sb-connection-dot': { display: 'inline-block', width: '10px', 'border-radius': '50%', 'background-color': 'rgb(22, 163, 74)' },
      '.sb-avatar-stack': { display: 'flex', 'list-style-type': 'none' },
      // The app's --sb-avatar-bg.
      // A flex item's inline-flex computes to flex.
      '.sb-avatar': { display: 'flex', position: 'relative', 'background-color': 'rgb(1, 2, 3)', 'border-top-left-radius': '32px' },
      // The app's rule, as heavy as the package's and before it, wins.
      '.sb-avatar-more': { 'background-color': 'rgb(209, 213, 219)', 'border-top-left-radius': '4px' },
      '.sb-avatar-status': { position: 'absolute', 'background-color': 'rgb(22, 163, 74)', 'border-top-left-radius': '0px' },
      '.sb-bell': { position: 'relative' },
      '[data-testid="notification-count"]': { position: 'absolute', 'background-color': 'rgb(220, 38, 38)', display: 'block' },
      '.sb-toaster': { position: 'fixed', 'z-index': '1000', display: 'grid' },
      // Critical: the urgent colours.
      '.sb-toast': { 'background-color': 'rgb(127, 29, 29)', color: 'rgb(255, 255, 255)', 'border-top-left-radius': '4px' },
      // Inline, so that they work without the stylesheet too.
      '.sb-live-cursors': { position: 'relative' },
      '.sb-cursor-layer': { position: 'absolute', 'pointer-events': 'none' },
    });
    expect(await page.evaluate(() => (window as unknown as { violations: string[] }).violations)).toEqual([]);
    expect(problems).toEqual([]);
    for (const o of others) o.client.disconnect();
    await page.close();
  }, 120_000);
});
