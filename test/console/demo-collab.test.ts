import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, type Chromium, launchChromium } from '../helpers/chromium.js';
import { axeViolations, type ConsoleRun, consoleRun, cspViolations, POLL } from '../helpers/console-run.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The demo workspace's shared note (a Yjs document, `demo:notes`) and its lock panel
 * (`demo:plan`) in real headless Chromium against a real server, two users in two browser
 * contexts: text typed at one shows at the other with the typist among the note's editors;
 * edits typed at both ends at once converge to the same text with each caret kept in place;
 * a lock taken by alice shows her as holder at bob's, bob's take is refused at once or waits,
 * and alice's release (later: bob closing his tab) hands it over with a larger fencing token;
 * HTML planted in the note and as a holder's name shows as text and never runs. Over the run:
 * no console error, page error, failed request, HTTP error, CSP report or serious axe-core
 * violation. Delays are measured and printed, never asserted.
 */

/** Short heartbeats, so a vanished connection is noticed quickly. */
const TIMEOUTS = { ping: '2s', pong: '2s' };
let dataDir: string;
let s: TestServer;
let alice: Chromium;
let bob: Chromium;
const runs: ConsoleRun[] = [consoleRun(() => alice.browser as never), consoleRun(() => bob.browser as never)];
const [aliceRun, bobRun] = runs as [ConsoleRun, ConsoleRun];
const figures: Record<string, number> = {};
/**
 * What a page logs while the server is down, and only then: its refused WebSocket attempts, and
 * the SDK's probe of why one never opened (a plain GET on the socket's URL, refused too).
 */
const outageConsole = (text: string) =>
  /WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws' failed/.test(text) || /^Failed to load resource: net::ERR_CONNECTION_REFUSED$/.test(text);
const outageRequest = (text: string) => /^GET http:\/\/127\.0\.0\.1:\d+\/ws net::ERR_CONNECTION_REFUSED$/.test(text);

/** Open the workspace in a tab of a user's browser and join under a name; resolves once connected and the note synced. */
async function enter(run: ConsoleRun, name: string): Promise<Page> {
  const page = await run.newPage();
  await page.goto(`${s.httpUrl}/console/demo`);
  await page.getByTestId('demo-name').fill(name);
  await page.getByTestId('demo-join').click();
  await expect.poll(() => page.getByTestId('connection-status').getAttribute('data-state'), POLL).toBe('connected');
  await expect.poll(() => page.getByTestId('demo-notes-status').getAttribute('data-state'), POLL).toBe('synced');
  return page;
}

const note = (page: Page) => page.getByTestId('demo-notes').inputValue();
const editors = (page: Page) => page.getByTestId('demo-notes-editor').evaluateAll((els) => els.map((e) => e.getAttribute('data-user')).sort());
const holder = (page: Page) => page.getByTestId('demo-lock-holder').getAttribute('data-user');
const token = async (page: Page) => Number(await page.getByTestId('demo-lock-holder').getAttribute('data-token'));
const noteState = (page: Page) => page.getByTestId('demo-notes-status').getAttribute('data-state');
const lockState = (page: Page) => page.getByTestId('demo-lock-state').getAttribute('data-state');
const planted = (page: Page) => page.evaluate(() => (window as unknown as { planted?: number }).planted);

let a: Page;
let b: Page;

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(true);
  // A data directory of the test's own: the server restarts on it (same secret, same data).
  dataDir = mkdtempSync(join(tmpdir(), 'sb-demo-collab-'));
  s = await startTestServer({ keepDataDir: dataDir, timeouts: TIMEOUTS } as never);
  alice = await launchChromium();
  bob = await launchChromium();
}, 60_000);

afterAll(async () => {
  await alice?.close();
  await bob?.close();
  await s?.close();
  rmSync(dataDir, { recursive: true, force: true });
  console.log(`demo note and lock delays (ms, this run): ${JSON.stringify(figures)}`);
});

describe("the demo workspace's shared note and lock in headless Chromium, two users in two browser contexts", () => {
  it('the note is a chunk of its own (with Yjs), fetched with the demo: the admin view loads none of it', async () => {
    const page = await aliceRun.newPage();
    const scripts: string[] = [];
    page.on('request', (r) => {
      if (r.resourceType() === 'script') scripts.push(new URL(r.url()).pathname);
    });
    await page.goto(`${s.httpUrl}/console/admin`);
    await page.getByTestId('login-key').waitFor();
    expect(scripts.filter((p) => /\/(workspace|notes)-[^/]+\.js$/.test(p))).toEqual([]);
    await aliceRun.leave(page, () => page.close());
  }, 120_000);

  it("text alice types in the note appears in bob's, with her among its editors at her caret; both say saved", async () => {
    a = await enter(aliceRun, 'Alice');
    b = await enter(bobRun, 'Bob');
    await a.getByTestId('demo-notes').focus();
    const typedAt = Date.now();
    await a.keyboard.type('Hello from Alice.', { delay: 10 });
    await expect.poll(() => note(b), POLL).toBe('Hello from Alice.');
    figures['noteShownMs'] = Date.now() - typedAt;
    await expect.poll(() => editors(b), POLL).toEqual(['alice']);
    const caret = b.locator('[data-testid="demo-notes-editor"][data-user="alice"]');
    await expect.poll(() => caret.getAttribute('data-caret'), POLL).toBe('17');
    expect(await caret.textContent()).toBe('Alice line 1, column 18');
    // And drawn in bob's textarea, with her name: on its first line, after her 17 characters.
    const drawn = b.locator('[data-testid="demo-notes-caret"][data-user="alice"]');
    await drawn.waitFor({ timeout: 30_000 });
    expect(await drawn.textContent()).toBe('Alice');
    const at = await drawn.boundingBox();
    const field = await b.getByTestId('demo-notes').boundingBox();
    if (!at || !field) throw new Error('no caret or no note');
    expect(at.x).toBeGreaterThan(field.x + 60);
    expect(at.x).toBeLessThan(field.x + field.width);
    expect(at.y).toBeLessThan(field.y + 30);
    for (const page of [a, b]) await expect.poll(() => page.getByTestId('demo-notes-status').getAttribute('data-state'), POLL).toBe('synced');
    expect(await a.getByTestId('demo-notes-status').getAttribute('data-pending')).toBe('0');
    // Bob's caret is not in the note: alice lists him, "elsewhere on the page".
    await expect.poll(() => editors(a), POLL).toEqual(['bob']);
    expect(await a.getByTestId('demo-notes-editor').textContent()).toBe('Bob elsewhere on the page');
    expect(await a.getByTestId('demo-notes-caret').count()).toBe(0);
    expect(await axeViolations(a)).toEqual([]);
  }, 120_000);

  it('edits typed at both ends at once converge to the same text at both, each caret kept where its typist left it', async () => {
    await a.getByTestId('demo-notes').focus();
    await a.keyboard.press('Control+Home');
    await b.getByTestId('demo-notes').focus();
    await b.keyboard.press('Control+End');
    await Promise.all([a.keyboard.type('[alice at the start]', { delay: 15 }), b.keyboard.type('[bob at the end]', { delay: 15 })]);
    const expected = '[alice at the start]Hello from Alice.[bob at the end]';
    await expect.poll(() => note(a), POLL).toBe(expected);
    await expect.poll(() => note(b), POLL).toBe(expected);
    // The carets stayed: alice's after her insert, bob's at the end, whatever arrived meanwhile.
    expect(await a.getByTestId('demo-notes').evaluate((el) => (el as HTMLTextAreaElement).selectionStart)).toBe('[alice at the start]'.length);
    expect(await b.getByTestId('demo-notes').evaluate((el) => (el as HTMLTextAreaElement).selectionStart)).toBe(expected.length);
    // Alice deletes everything after her caret: bob's caret, at the end, comes back with the text.
    await a.keyboard.press('Control+Shift+End');
    await a.keyboard.press('Delete');
    await expect.poll(() => note(b), POLL).toBe('[alice at the start]');
    expect(await b.getByTestId('demo-notes').evaluate((el) => (el as HTMLTextAreaElement).selectionStart)).toBe('[alice at the start]'.length);
    for (const page of [a, b]) await expect.poll(() => page.getByTestId('demo-notes-status').getAttribute('data-state'), POLL).toBe('synced');
  }, 120_000);

  it('HTML and script planted in the note stay text at the other end and never run', async () => {
    const payload = '<img src=x onerror="window.planted=1"><script>window.planted=2</script>';
    await a.getByTestId('demo-notes').focus();
    await a.keyboard.press('Control+End');
    await a.keyboard.type(payload, { delay: 2 });
    await expect.poll(() => note(b), POLL).toBe(`[alice at the start]${payload}`);
    expect(await b.locator('.demo-notes img, .demo-notes script').count()).toBe(0);
    for (const page of [a, b]) expect(await planted(page)).toBeUndefined();
  }, 120_000);

  it('while the server is down both notes say offline; what alice types meanwhile is kept, counted, and reaches bob once it is back', async () => {
    const port = s.port;
    const before = runs.map((run) => ({ console: run.problems.console.length, failed: run.problems.failed.length }));
    await s.close();
    for (const page of [a, b]) await expect.poll(() => noteState(page), POLL).toBe('offline');
    await a.getByTestId('demo-notes').focus();
    await a.keyboard.press('Control+End');
    await a.keyboard.type(' (typed offline)', { delay: 5 });
    await expect.poll(async () => Number(await a.getByTestId('demo-notes-status').getAttribute('data-pending')), POLL).toBeGreaterThan(0);
    expect(await a.getByTestId('demo-notes-status').textContent()).toMatch(/^Offline: \d+ edit\(s\) kept here, sent when the connection is back\.$/);
    const text = await note(a);
    expect(text.endsWith(' (typed offline)')).toBe(true);
    s = await startTestServer({ keepDataDir: dataDir, port, timeouts: TIMEOUTS } as never);
    const backAt = Date.now();
    await expect.poll(() => note(b), POLL).toBe(text);
    figures['offlineEditsShownMs'] = Date.now() - backAt;
    for (const page of [a, b]) await expect.poll(() => noteState(page), POLL).toBe('synced');
    expect(await a.getByTestId('demo-notes-status').getAttribute('data-pending')).toBe('0');
    // The refused reconnects (and the SDK's probe of them) while the server was down are the only problems of the outage, set aside.
    for (const [i, run] of runs.entries()) {
      const from = before[i] as { console: number; failed: number };
      expect(run.problems.console.splice(from.console).filter((m) => !outageConsole(m))).toEqual([]);
      expect(run.problems.failed.splice(from.failed).filter((m) => !outageRequest(m))).toEqual([]);
    }
  }, 180_000);

  it('alice takes the lock: bob sees her as its holder; his take is refused at once, or waits and gets it when she releases, with a larger fencing token', async () => {
    await a.getByTestId('demo-lock-take').click();
    await expect.poll(() => lockState(a), POLL).toBe('holding');
    const first = await token(a);
    expect(first).toBeGreaterThan(0);
    await expect.poll(() => holder(b), POLL).toBe('alice');
    expect(await token(b)).toBe(first);
    expect(await b.getByTestId('demo-lock-holder').textContent()).toBe(`Held by Alice (alice), fencing token ${first}, while their connection lasts`);
    expect(await b.getByTestId('demo-lock-release').isDisabled()).toBe(true);

    // Without waiting: refused at once, naming the holder.
    await b.getByTestId('demo-lock-wait').uncheck();
    await b.getByTestId('demo-lock-take').click();
    await expect.poll(() => lockState(b), POLL).toBe('refused');
    expect(await b.getByTestId('demo-lock-state').textContent()).toBe('Refused: Alice holds it.');

    // Waiting: bob's take is pending until alice releases, then his.
    await b.getByTestId('demo-lock-wait').check();
    await b.getByTestId('demo-lock-take').click();
    await expect.poll(() => lockState(b), POLL).toBe('waiting');
    expect(await b.getByTestId('demo-lock-state').textContent()).toBe('Waiting for Alice to let go…');
    expect(await axeViolations(b)).toEqual([]);
    const releasedAt = Date.now();
    await a.getByTestId('demo-lock-release').click();
    await expect.poll(() => lockState(b), POLL).toBe('holding');
    figures['lockHandedOverMs'] = Date.now() - releasedAt;
    await expect.poll(() => holder(a), POLL).toBe('bob');
    expect(await token(a)).toBeGreaterThan(first);
    expect(await lockState(a)).toBe('idle');
    await expect
      .poll(() => a.getByTestId('demo-lock-event').allTextContents(), POLL)
      .toEqual([
        `Bob took it (fencing token ${await token(a)})`,
        `Alice’s lock (token ${first}): released by its holder`,
        `Alice took it (fencing token ${first})`,
      ]);
  }, 120_000);

  it('bob closes his tab while he holds it: it is released at once (his connection closed) and alice, waiting, gets it', async () => {
    const bobs = await token(a);
    await a.getByTestId('demo-lock-take').click();
    await expect.poll(() => lockState(a), POLL).toBe('waiting');
    const closedAt = Date.now();
    await bobRun.leave(b, () => b.close());
    await expect.poll(() => lockState(a), POLL).toBe('holding');
    figures['lockAfterCloseMs'] = Date.now() - closedAt;
    expect(await holder(a)).toBe('alice');
    expect(await token(a)).toBeGreaterThan(bobs);
    // The lock service's pushes follow the reply: the release with its reason, then alice's grant.
    const alices = await token(a);
    await expect
      .poll(async () => (await a.getByTestId('demo-lock-event').allTextContents()).slice(0, 2), POLL)
      .toEqual([`Alice took it (fencing token ${alices})`, `Bob’s lock (token ${bobs}): its holder closed the tab (connection closed): released at once`]);
    // He left the note too.
    await expect.poll(() => editors(a), POLL).toEqual([]);
  }, 120_000);

  it("a planted name as the lock's holder and the note's editor shows as text and never runs", async () => {
    const name = '<img src=x onerror="window.planted=3">';
    const b2 = await enter(bobRun, name);
    const user = 'img-src-x-onerror-window-planted';
    await a.getByTestId('demo-lock-release').click();
    await expect.poll(() => holder(b2), POLL).toBe('');
    await b2.getByTestId('demo-lock-take').click();
    await expect.poll(() => holder(a), POLL).toBe(user);
    expect(await a.getByTestId('demo-lock-holder').textContent()).toBe(
      `Held by ${name} (${user}), fencing token ${await token(a)}, while their connection lasts`,
    );
    await b2.getByTestId('demo-notes').focus();
    await expect
      .poll(() => a.getByTestId('demo-notes-editor').textContent(), POLL)
      .toMatch(new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 1, column \\d+$`));
    await expect.poll(() => a.getByTestId('demo-notes-caret').textContent(), POLL).toBe(name);
    expect(await a.locator('.demo-lock img, .demo-notes img').count()).toBe(0);
    for (const page of [a, b2]) expect(await planted(page)).toBeUndefined();
    expect(await axeViolations(a)).toEqual([]);
    for (const page of [a, b2]) expect(await cspViolations(page)).toEqual([]);
    await bobRun.leave(b2, () => b2.close());
  }, 120_000);

  it('over the whole run: no console error, page error, failed request, HTTP error or CSP report', async () => {
    expect(await cspViolations(a)).toEqual([]);
    for (const run of runs) expect(run.problems).toEqual({ console: [], page: [], failed: [], http: [], csp: [] });
  });
});
