import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, type Chromium, launchChromium } from '../helpers/chromium.js';
import { axeViolations, cspViolations } from '../helpers/console-run.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The console's demo workspace in real headless Chromium against a real server: two browser
 * contexts as two users (alice; bob in two tabs) see each other's avatars, cursors (at the
 * right place), typing, comments (as text), toasts and bell counts, a read in one tab clears
 * the other, a closed context leaves presence, and a server restart shows "reconnecting in N
 * s", then "connected", with a notification made meanwhile arriving once. Over the whole run:
 * no console error, page error, failed request, HTTP error, CSP report or serious axe-core
 * violation — except the refused WebSocket attempts (and the SDK's refused probe and fallback
 * stream) while the server is down, which are set aside and only allowed then. No timing thresholds: the delays are measured and printed.
 */

/** How long a live value may take to show (the machine may be loaded). */
const POLL = { timeout: 30_000, interval: 50 };
/** Short heartbeats, so a vanished connection leaves presence quickly. */
const TIMEOUTS = { ping: '2s', pong: '2s' };

interface Problems {
  console: string[];
  page: string[];
  failed: string[];
  http: string[];
  csp: string[];
}

let dataDir: string;
let s: TestServer;
let alice: Chromium;
let bob: Chromium;
const problems: Problems = { console: [], page: [], failed: [], http: [], csp: [] };
/** While the server is down: the refused WebSocket attempts, set aside. */
let outage: string[] | null = null;
const outageSeen: string[] = [];
const leaving = new WeakSet<Page>();
const figures: Record<string, number> = {};

/** Runs one of the test's own navigations (reload, goto, close) of a page whose reads may be in flight. */
async function leave<T>(page: Page, action: () => Promise<T>): Promise<T> {
  leaving.add(page);
  try {
    return await action();
  } finally {
    leaving.delete(page);
  }
}

/**
 * What a page logs while the server is down, and only then: its refused WebSocket attempts, the
 * SDK's probe of why one never opened (a plain GET on the socket's URL) and its fallback
 * stream's GET, refused too.
 */
const refusedSocket = (text: string) =>
  /WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws' failed/.test(text) || /^Failed to load resource: net::ERR_CONNECTION_REFUSED$/.test(text);
const refusedRequest = (text: string) => /^GET http:\/\/127\.0\.0\.1:\d+\/ws(\/sse)?(\?\S*)? net::ERR_CONNECTION_REFUSED$/.test(text);

/** A new tab of a browser context whose every problem is recorded (as test/console/admin.test.ts does). */
async function newPage(chromium: Chromium): Promise<Page> {
  const page = await chromium.browser.newPage();
  await page.addInitScript(() => {
    const w = window as unknown as { cspViolations: string[] };
    w.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (outage && refusedSocket(m.text())) outage.push(m.text());
    else problems.console.push(m.text());
  });
  page.on('pageerror', (e) => problems.page.push(e.message));
  page.on('requestfailed', (r) => {
    const error = r.failure()?.errorText ?? '';
    if (leaving.has(page) && r.method() === 'GET' && error === 'net::ERR_ABORTED') return;
    const failed = `${r.method()} ${r.url()} ${error}`;
    if (outage && refusedRequest(failed)) outage.push(failed);
    else problems.failed.push(failed);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.http.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
  });
  return page;
}

/** Open the workspace in a tab and join under a name; resolves once connected. */
async function enter(chromium: Chromium, name: string): Promise<Page> {
  const page = await newPage(chromium);
  await page.goto(`${s.httpUrl}/console/demo`);
  await page.getByTestId('demo-name').fill(name);
  await page.getByTestId('demo-join').click();
  await expect.poll(() => page.getByTestId('connection-status').getAttribute('data-state'), POLL).toBe('connected');
  return page;
}

/** The board's avatars (in the header bar; the shared dashboard has its own). */
const avatars = (page: Page) =>
  page
    .locator('header.bar')
    .getByTestId('presence-avatar')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-user')).sort());
/** Who views the shared dashboard, as a page shows it. */
const viewers = (page: Page) =>
  page
    .getByTestId('dashboard-viewers')
    .getByTestId('presence-avatar')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-user')).sort());
const unread = async (page: Page) => Number(await page.getByTestId('notification-count').getAttribute('data-count'));
const toasts = (page: Page, text: string) => page.getByTestId('toast').filter({ hasText: text }).count();

/** Subscribers of a channel of tenant demo, as the HTTP API lists them (0: not listed). */
async function subscribersOf(channel: string): Promise<number> {
  const res = await fetch(`${s.httpUrl}/api/v1/channels?prefix=${encodeURIComponent(channel)}`, {
    headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'demo' },
  });
  const body = (await res.json()) as { channels: Array<{ channel: string; subscribers: number }> };
  return body.channels.find((c) => c.channel === channel)?.subscribers ?? 0;
}

/** Create a notification for a user of tenant demo over the HTTP API (the app backend's way). */
async function notify(user: string, title: string): Promise<void> {
  const res = await fetch(`${s.httpUrl}/api/v1/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'demo', 'content-type': 'application/json' },
    body: JSON.stringify({ user, type: 'mention', title }),
  });
  expect(res.status).toBe(201);
}

let a: Page;
let b1: Page;
let b2: Page;

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(true);
  // A data directory of the test's own: the server restarts on it (same secret, same admin key, same data).
  dataDir = mkdtempSync(join(tmpdir(), 'sb-demo-'));
  s = await startTestServer({ keepDataDir: dataDir, timeouts: TIMEOUTS } as never);
  alice = await launchChromium();
  bob = await launchChromium();
}, 60_000);

afterAll(async () => {
  await alice?.close().catch(() => undefined);
  await bob?.close();
  await s?.close();
  rmSync(dataDir, { recursive: true, force: true });
  console.log(`demo workspace delays (ms, this run): ${JSON.stringify(figures)}`);
});

describe('the demo workspace in headless Chromium, two users in two browser contexts', () => {
  it('the workspace is its own chunk: the start page loads no demo code until the demo is opened', async () => {
    const page = await newPage(alice);
    const scripts: string[] = [];
    page.on('request', (r) => {
      if (r.resourceType() === 'script') scripts.push(new URL(r.url()).pathname);
    });
    await page.goto(`${s.httpUrl}/console/admin`);
    await page.getByTestId('login-key').waitFor();
    const demoCode = (p: string) => /\/(workspace|metric-charts)-[^/]+\.js$/.test(p);
    expect(scripts.length).toBeGreaterThan(0);
    expect(scripts.filter(demoCode)).toEqual([]);
    await leave(page, () => page.goto(`${s.httpUrl}/console/demo`));
    await page.getByTestId('demo-name').waitFor();
    expect(scripts.some((p) => /\/workspace-[^/]+\.js$/.test(p))).toBe(true);
    expect(await axeViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it('each sees the other: avatars with status, both ways', async () => {
    a = await enter(alice, 'Alice');
    b1 = await enter(bob, 'Bob');
    // From bob's connection to his avatar at alice's.
    const joinedAt = Date.now();
    await expect.poll(() => avatars(a), POLL).toEqual(['alice', 'bob']);
    figures['avatarMs'] = Date.now() - joinedAt;
    await expect.poll(() => avatars(b1), POLL).toEqual(['alice', 'bob']);
    expect(await b1.locator('[data-testid="presence-avatar"][data-user="alice"]').getAttribute('data-status')).toBe('online');
    // Alice steps away: Bob sees her status change.
    await a.getByTestId('my-status').selectOption('away');
    await expect.poll(() => b1.locator('[data-testid="presence-avatar"][data-user="alice"]').getAttribute('data-status'), POLL).toBe('away');
    await a.getByTestId('my-status').selectOption('online');
    await expect.poll(() => b1.locator('[data-testid="presence-avatar"][data-user="alice"]').getAttribute('data-status'), POLL).toBe('online');
    expect(await b1.getByTestId('presence-avatar').first().getAttribute('title')).toMatch(/^(Alice|Bob) \(online\)$/);
    expect(await axeViolations(a)).toEqual([]);
  }, 120_000);

  it("a cursor moved on alice's board appears on bob's at the same place", async () => {
    const boardA = await a.locator('.sb-live-cursors').boundingBox();
    const boardB = await b1.locator('.sb-live-cursors').boundingBox();
    if (!boardA || !boardB) throw new Error('no board');
    const at = { x: 200, y: 150 };
    const movedAt = Date.now();
    await a.mouse.move(boardA.x + at.x, boardA.y + at.y);
    const cursor = b1.getByTestId('cursor-alice');
    await cursor.waitFor({ timeout: 30_000 });
    const place = async () => {
      const box = await cursor.boundingBox();
      return box ? { x: Math.round(box.x - boardB.x), y: Math.round(box.y - boardB.y) } : null;
    };
    await expect.poll(async () => Math.abs(((await place())?.x ?? -100) - at.x) <= 3 && Math.abs(((await place())?.y ?? -100) - at.y) <= 3, POLL).toBe(true);
    figures['cursorMs'] = Date.now() - movedAt;
    // A second move lands too.
    const next = { x: 420, y: 60 };
    await a.mouse.move(boardA.x + next.x, boardA.y + next.y, { steps: 4 });
    await expect
      .poll(async () => Math.abs(((await place())?.x ?? -100) - next.x) <= 3 && Math.abs(((await place())?.y ?? -100) - next.y) <= 3, POLL)
      .toBe(true);
    // Labelled with her user id.
    expect(await cursor.textContent()).toContain('alice');
    // Bob never sees his own cursor.
    expect(await b1.getByTestId('cursor-bob').count()).toBe(0);
  }, 120_000);

  it("typing in alice's comment box shows the indicator at bob, which goes after the timeout; the comment arrives as text", async () => {
    await a.getByTestId('comment-body').click();
    await a.keyboard.type('<img src=x onerror="window.planted=1">hello', { delay: 5 });
    await expect.poll(() => b1.getByTestId('typing-indicator').filter({ hasText: 'alice is typing' }).count(), POLL).toBe(1);
    // No more keystrokes: the indicator goes by itself.
    const quietSince = Date.now();
    await expect.poll(() => b1.getByTestId('typing-indicator').count(), POLL).toBe(0);
    figures['typingGoneMs'] = Date.now() - quietSince;
    await a.getByTestId('comment-submit').click();
    await expect.poll(() => b1.getByTestId('comment-item').first().textContent(), POLL).toBe('alice <img src=x onerror="window.planted=1">hello');
    expect(await b1.locator('.demo-comment-list img').count()).toBe(0);
    expect(await b1.evaluate(() => (window as unknown as { planted?: number }).planted)).toBeUndefined();
    // And it is in the board's activity, filtered by type.
    await expect.poll(() => b1.getByTestId('activity-item').filter({ hasText: 'commented' }).count(), POLL).toBeGreaterThan(0);
    await expect.poll(() => b1.getByTestId('activity-item').filter({ hasText: 'joined' }).count(), POLL).toBeGreaterThan(0);
    // The type filter keeps only what it names.
    const timeline = b1.getByRole('region', { name: 'Board activity' });
    await timeline.getByLabel('Type').selectOption('joined');
    await expect
      .poll(() => timeline.getByTestId('activity-item').evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('data-verb')))]), POLL)
      .toEqual(['joined']);
    await timeline.getByLabel('User').selectOption('alice');
    await timeline.getByLabel('Type').selectOption('');
    await expect
      .poll(() => timeline.getByTestId('activity-item').evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('data-actor')))]), POLL)
      .toEqual(['alice']);
    await timeline.getByLabel('User').selectOption('');
    await expect.poll(() => timeline.getByTestId('activity-item').filter({ hasText: 'commented' }).count(), POLL).toBe(1);
  }, 120_000);

  it("a notification to bob over the HTTP API raises a toast and the bell count in both of bob's tabs; marking it read in one clears the other", async () => {
    b2 = await enter(bob, 'Bob');
    await notify('bob', 'Review the board');
    for (const page of [b1, b2]) {
      await expect.poll(() => toasts(page, 'Review the board'), POLL).toBe(1);
      await expect.poll(() => unread(page), POLL).toBe(1);
    }
    expect(await toasts(a, 'Review the board')).toBe(0);
    expect(await axeViolations(b2)).toEqual([]);
    await b1.getByTestId('notification-bell').click();
    await b1.getByRole('button', { name: 'Mark read: Review the board' }).click();
    for (const page of [b2, b1]) {
      await expect.poll(() => unread(page), POLL).toBe(0);
      await expect.poll(() => toasts(page, 'Review the board'), POLL).toBe(0);
    }
    expect(await b2.getByTestId('notification-count').isHidden()).toBe(true);
  }, 120_000);

  it("a live progress bar on the conflated channel: a job run by alice moves bob's bar to 100", async () => {
    await a.getByTestId('job-run').click();
    await expect.poll(async () => Number(await b1.getByTestId('job-progress').getAttribute('value')), POLL).toBeGreaterThan(0);
    await expect.poll(async () => Number(await b1.getByTestId('job-progress').getAttribute('value')), POLL).toBe(100);
    expect(await b1.getByTestId('job-status').textContent()).toBe('100% (run by Alice)');
  }, 120_000);

  it("the server's demo generator feeds the live load charts: requests/s and latency p50/p95/p99 above zero, drawn on canvases, with table views", async () => {
    for (const name of ['demo-metric-requests', 'demo-metric-latency']) {
      const chart = b1.getByTestId(`chart-${name}`);
      await expect.poll(() => chart.getAttribute('aria-busy'), POLL).toBe('false');
      expect(await chart.locator('canvas').count()).toBeGreaterThan(0);
      await chart.getByRole('button', { name: 'Table' }).click();
      // The largest value of the table's cells ('–' for none): the generator never stops while the demo is on.
      const cells = b1.getByTestId(`chart-${name}-table`).locator('tbody td');
      const largest = async () => Math.max(0, ...(await cells.allTextContents()).map(Number).filter(Number.isFinite));
      await expect.poll(largest, POLL).toBeGreaterThan(0);
    }
    expect(await b1.getByTestId('chart-demo-metric-latency-table').locator('thead th').allTextContents()).toEqual(['time (UTC)', 'p50', 'p95', 'p99']);
    expect(await axeViolations(b1)).toEqual([]);
  }, 120_000);

  it("the shared dashboard: its viewers, and only they, see each other's avatars and cursors over it, apart from the board's", async () => {
    // Bob's first tab is behind his second: in front again, so its timers and frames run at full rate.
    await b1.bringToFront();
    await a.getByTestId('dashboard-open').click();
    await expect.poll(() => viewers(a), POLL).toEqual(['alice']);
    // Bob has not opened it: he is on the board, not among the dashboard's viewers.
    expect(await b1.getByTestId('dashboard-viewers').count()).toBe(0);
    const openedAt = Date.now();
    await b1.getByTestId('dashboard-open').click();
    await expect.poll(() => viewers(a), POLL).toEqual(['alice', 'bob']);
    figures['dashboardAvatarMs'] = Date.now() - openedAt;
    await expect.poll(() => viewers(b1), POLL).toEqual(['alice', 'bob']);
    expect(await avatars(a)).toEqual(['alice', 'bob']);
    expect(await subscribersOf('demo:dashboard')).toBe(2);

    // Alice's pointer over her dashboard shows on bob's dashboard at the same place, not on his board.
    for (const page of [a, b1]) await page.locator('.demo-dashboard').scrollIntoViewIfNeeded();
    const dashA = await a.locator('.demo-dashboard').boundingBox();
    const dashB = await b1.locator('.demo-dashboard').boundingBox();
    if (!dashA || !dashB) throw new Error('no dashboard');
    const at = { x: 300, y: 120 };
    const movedAt = Date.now();
    await a.mouse.move(dashA.x + at.x, dashA.y + at.y);
    const cursor = b1.locator('.demo-dashboard').getByTestId('cursor-alice');
    const place = async () => {
      const box = await cursor.boundingBox();
      return box ? { x: Math.round(box.x - dashB.x), y: Math.round(box.y - dashB.y) } : null;
    };
    await expect.poll(async () => Math.abs(((await place())?.x ?? -100) - at.x) <= 3 && Math.abs(((await place())?.y ?? -100) - at.y) <= 3, POLL).toBe(true);
    figures['dashboardCursorMs'] = Date.now() - movedAt;
    expect(await cursor.textContent()).toContain('alice');
    expect(await b1.locator('.demo-board').getByTestId('cursor-alice').count()).toBe(0);
    // And bob's at alice's.
    await b1.mouse.move(dashB.x + 100, dashB.y + 60);
    await expect.poll(() => a.locator('.demo-dashboard').getByTestId('cursor-bob').count(), POLL).toBe(1);
    expect(await a.locator('.demo-dashboard').getByTestId('cursor-alice').count()).toBe(0);

    // The dashboard's figures are live: a job alice runs fills bob's dashboard bar.
    await a.getByTestId('job-run').click();
    await expect.poll(async () => Number(await b1.getByTestId('dashboard-progress').getAttribute('value')), POLL).toBe(100);
    // And its load is the generator's latest complete second, from the charts' own subscriptions.
    await expect.poll(() => b1.getByTestId('dashboard-load').textContent(), POLL).toMatch(/^[1-9]\d* req\/s, p95 [1-9]\d* ms$/);
    expect(await axeViolations(a)).toEqual([]);

    // Bob closes it: he leaves its viewers and his cursor goes, while he stays on the board.
    const closedAt = Date.now();
    await b1.getByTestId('dashboard-open').click();
    await expect.poll(() => viewers(a), POLL).toEqual(['alice']);
    figures['dashboardLeaveMs'] = Date.now() - closedAt;
    await expect.poll(() => a.locator('.demo-dashboard').getByTestId('cursor-bob').count(), POLL).toBe(0);
    expect(await avatars(a)).toEqual(['alice', 'bob']);
    await a.getByTestId('dashboard-open').click();
    expect(await a.getByTestId('dashboard-viewers').count()).toBe(0);
    // Nobody views it any more: the server lists no subscriber of its channel.
    await expect.poll(() => subscribersOf('demo:dashboard'), POLL).toBe(0);
  }, 120_000);

  it('stopping the server shows "reconnecting in N s"; after a restart on the same port and data: "connected", and a notification made meanwhile appears once', async () => {
    const port = s.port;
    outage = [];
    await s.close();
    for (const page of [a, b1]) await expect.poll(() => page.getByTestId('connection-status').textContent(), POLL).toMatch(/reconnecting in \d+ s/);
    s = await startTestServer({ keepDataDir: dataDir, port, timeouts: TIMEOUTS } as never);
    await notify('bob', 'Made while you were away');
    for (const page of [a, b1, b2]) await expect.poll(() => page.getByTestId('connection-status').getAttribute('data-state'), POLL).toBe('connected');
    outageSeen.push(...outage);
    outage = null;
    for (const page of [b1, b2]) {
      await expect.poll(() => toasts(page, 'Made while you were away'), POLL).toBe(1);
      await expect.poll(() => unread(page), POLL).toBe(1);
    }
    // Once: the inbox lists it once, and no second toast follows the first.
    for (const page of [b1, b2])
      await expect.poll(() => page.locator('.sb-notification').filter({ hasText: 'Made while you were away' }).count(), POLL).toBe(1);
    expect(await toasts(b2, 'Made while you were away')).toBe(1);
    // Presence is back too.
    await expect.poll(() => avatars(a), POLL).toEqual(['alice', 'bob']);
  }, 180_000);

  it("closing alice's browser context removes her avatar at bob's", async () => {
    for (const page of [a, b1, b2]) expect(await cspViolations(page)).toEqual([]);
    const closedAt = Date.now();
    await leave(a, () => alice.close());
    await expect.poll(() => avatars(b1), POLL).toEqual(['bob']);
    figures['avatarGoneMs'] = Date.now() - closedAt;
    await expect.poll(() => avatars(b2), POLL).toEqual(['bob']);
    expect(await b1.getByTestId('cursor-alice').count()).toBe(0);
  }, 120_000);

  it('a name with planted HTML shows as text on avatars and never runs', async () => {
    const planted = '<img src=x onerror="window.planted=2">';
    const b3 = await enter(bob, planted);
    // The user id the page makes of it: letters and digits, at most 32.
    const user = 'img-src-x-onerror-window-planted';
    expect(await b3.getByTestId('demo-me').textContent()).toBe(planted);
    const avatar = b1.locator(`[data-testid="presence-avatar"][data-user="${user}"]`);
    await avatar.waitFor({ timeout: 30_000 });
    expect(await avatar.getAttribute('title')).toBe(`${planted} (online)`);
    expect(await b1.locator('.demo-avatars img').count()).toBe(0);
    for (const page of [b1, b3]) expect(await page.evaluate(() => (window as unknown as { planted?: number }).planted)).toBeUndefined();
    expect(await cspViolations(b3)).toEqual([]);
    await leave(b3, () => b3.close());
    await expect.poll(() => avatars(b1), POLL).toEqual(['bob']);
  }, 120_000);

  it('over the whole run: no console error, page error, failed request, HTTP error or CSP report (the refused reconnects only while the server was down)', async () => {
    for (const page of [b1, b2]) expect(await cspViolations(page)).toEqual([]);
    expect(problems).toEqual({ console: [], page: [], failed: [], http: [], csp: [] });
    expect(outageSeen.every((m) => refusedSocket(m) || refusedRequest(m))).toBe(true);
  });
});
