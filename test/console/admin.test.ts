import { existsSync } from 'node:fs';
import type { SwitchboardClient } from '@switchboard/client';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, type Chromium, launchChromium } from '../helpers/chromium.js';
import { axeViolations, consoleRun, cspViolations, POLL } from '../helpers/console-run.js';
import { connectedClient } from '../helpers/sdk-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The admin view of the web console in real headless Chromium against a real server: login
 * with the admin key (typed, or from the `#key=` link, which then leaves the address bar),
 * the live connection count following real SDK clients, a disconnect from the connections
 * page after a confirmation, deep-link reloads — with no console error, page error, failed
 * request, HTTP error (but the one a wrong key must get), CSP report or serious axe-core
 * violation over the whole run.
 */

let s: TestServer;
let chromium: Chromium;
const cleanup: Array<() => void> = [];
const { problems, newPage, leave } = consoleRun(() => chromium.browser);

/** Every connection, as the server counts them (what an admin key's overview shows). */
const serverCount = async () =>
  ((await (await fetch(`${s.httpUrl}/api/v1/connections?limit=0`, { headers: { authorization: `Bearer ${s.apiKey}` } })).json()) as { total: number }).total;

const count = async (page: Page) => Number((await page.getByTestId('connections-count').textContent())?.trim());

async function login(page: Page, key: string): Promise<void> {
  await page.getByTestId('login-key').fill(key);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('connections-count').filter({ hasText: /^\d+$/ }).waitFor();
}

/** What the page holds of the key: where it must never be (address, localStorage, cookies) and where it may (sessionStorage). */
async function keyPlaces(page: Page, key: string) {
  return page.evaluate((k) => {
    const local = Object.keys(localStorage).some((name) => name.includes(k) || (localStorage.getItem(name) ?? '').includes(k));
    const session = Object.keys(sessionStorage).some((name) => (sessionStorage.getItem(name) ?? '').includes(k));
    return { href: location.href.includes(k), local, cookie: document.cookie.includes(k), session };
  }, key);
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

describe('the admin view in headless Chromium', () => {
  it('a wrong key shows an error and no data, and is not kept', async () => {
    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin`);
    expect(await axeViolations(page)).toEqual([]);
    const before = problems.http.length;
    await page.getByTestId('login-key').fill('sb_000000000000_wrongwrongwrongwrongwrongwrongwr');
    await page.getByTestId('login-submit').click();
    await expect.poll(() => page.getByTestId('login-error').textContent(), POLL).toContain('invalid API key');
    expect(await page.getByTestId('connections-count').count()).toBe(0);
    expect(await page.getByTestId('logout').count()).toBe(0);
    expect(await keyPlaces(page, 'wrongwrongwrong')).toEqual({ href: false, local: false, cookie: false, session: false });
    expect(await axeViolations(page)).toEqual([]);
    // The one refusal a wrong key must get, and the console line Chromium writes for it: taken out of the run's record.
    expect(problems.http.splice(before)).toEqual(['GET /api/v1/key 401']);
    const refused = problems.console.findIndex((m) => m.includes('401'));
    expect(refused).toBeGreaterThan(-1);
    problems.console.splice(refused, 1);
    expect(await cspViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it('logs in with the admin key: the connection count appears and follows a real SDK client; the key is only in session storage; logout forgets it', async () => {
    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin`);
    await login(page, s.apiKey);
    // The overview's charts open the console's own SDK connection: once they are live, the count includes it.
    await page.getByTestId('charts-status').filter({ hasText: 'live' }).waitFor();
    const before = await serverCount();
    await expect.poll(() => count(page), POLL).toBe(before);
    const client: SwitchboardClient = await connectedClient(s.url, () => s.token({ sub: 'counted' }), cleanup);
    await expect.poll(() => count(page), POLL).toBe(before + 1);
    client.disconnect();
    await expect.poll(() => count(page), POLL).toBe(before);
    expect(await keyPlaces(page, s.apiKey)).toEqual({ href: false, local: false, cookie: false, session: true });
    expect(await axeViolations(page)).toEqual([]);

    await page.getByTestId('logout').click();
    await page.getByTestId('login-key').waitFor();
    expect(await page.getByTestId('connections-count').count()).toBe(0);
    expect(await keyPlaces(page, s.apiKey)).toEqual({ href: false, local: false, cookie: false, session: false });
    // A reload after logout asks for the key again.
    await leave(page, () => page.reload());
    await page.getByTestId('login-key').waitFor();
    expect(await cspViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it('the #key= link logs in and the fragment leaves the address bar; a reload of a deep link stays logged in', async () => {
    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin#key=${encodeURIComponent(s.apiKey)}`);
    await page.getByTestId('connections-count').filter({ hasText: /^\d+$/ }).waitFor();
    expect(await page.evaluate(() => location.hash)).toBe('');
    expect(page.url()).toBe(`${s.httpUrl}/console/admin`);
    expect(await keyPlaces(page, s.apiKey)).toMatchObject({ href: false, local: false, cookie: false });
    // The history entry holds no key either: back from the next page lands on the bare address.
    await page.getByRole('link', { name: 'Channels' }).click();
    await page.getByTestId('channels-tenant').waitFor();
    expect(page.url()).toBe(`${s.httpUrl}/console/admin/channels`);
    expect(await axeViolations(page)).toEqual([]);
    await leave(page, () => page.goBack());
    expect(page.url()).toBe(`${s.httpUrl}/console/admin`);

    await leave(page, () => page.reload());
    await page.getByTestId('connections-count').filter({ hasText: /^\d+$/ }).waitFor();
    await leave(page, () => page.goto(`${s.httpUrl}/console/admin/connections`));
    await page.getByTestId('connections-total').waitFor();
    expect(await cspViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it('disconnects a connection from the connections page after a confirmation, and the SDK client sees the close with the reason', async () => {
    const victim = await connectedClient(s.url, () => s.token({ sub: 'victim' }), cleanup);
    const bystander = await connectedClient(s.url, () => s.token({ sub: 'bystander' }), cleanup);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => victim.on('disconnected', (r) => resolve({ code: r.code, reason: r.reason })));
    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin/connections#key=${encodeURIComponent(s.apiKey)}`);
    await page.getByTestId('search-user').fill('vict');
    const row = page.locator('[data-testid="connection-row"][data-user="victim"]');
    await row.waitFor();
    // The search applies at the next read: until then the list may be the unfiltered one.
    await expect.poll(() => page.getByTestId('connection-row').count(), POLL).toBe(1);
    await row.getByTestId('disconnect').click();
    await page.getByTestId('confirm-dialog').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    // Cancel first: nothing happens.
    await page.getByTestId('confirm-cancel').click();
    expect(await page.getByTestId('confirm-dialog').count()).toBe(0);
    expect(victim.state).toBe('connected');
    await row.getByTestId('disconnect').click();
    await page.getByTestId('disconnect-reason').fill('closed from the console');
    await page.getByTestId('confirm-ok').click();
    expect(await closed).toEqual({ code: 3502, reason: 'closed from the console' });
    await expect.poll(() => page.getByTestId('connections-notice').textContent(), POLL).toContain('Disconnected victim');
    await expect.poll(() => page.locator('[data-testid="connection-row"][data-user="victim"]').count(), POLL).toBe(0);
    expect(bystander.state).toBe('connected');
    expect(await cspViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it("a tenant key logs in and sees only its tenant's connections", async () => {
    await connectedClient(s.url, () => s.token({ sub: 'outsider', tenant: 'other' }), cleanup);
    await connectedClient(s.url, () => s.token({ sub: 'insider', tenant: 'acme' }), cleanup);
    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin`);
    await login(page, s.tenantKeys['acme'] as string);
    expect(await page.getByTestId('key-scope').textContent()).toBe('tenant acme');
    await page.getByRole('link', { name: 'Connections' }).click();
    expect(await page.getByTestId('search-tenant').count()).toBe(0);
    await page.locator('[data-testid="connection-row"][data-user="insider"]').waitFor();
    const tenants = await page.locator('[data-testid="connection-row"] td:nth-child(2)').allTextContents();
    expect(tenants.length).toBeGreaterThan(0);
    expect(new Set(tenants)).toEqual(new Set(['acme']));
    expect(await page.locator('[data-testid="connection-row"][data-user="outsider"]').count()).toBe(0);
    expect(await cspViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it('the channels page shows presence and the history tail as text (planted HTML never runs), and publishes a test message', async () => {
    const planted = '<img src=x onerror="window.planted=1"><script>window.planted=2</script>';
    const member = await connectedClient(s.url, () => s.token({ sub: 'present' }), cleanup);
    const room = member.subscribe('project:xss');
    await new Promise((r) => room.once('subscribed', r));
    await room.enterPresence({ page: planted });
    const published = await fetch(`${s.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'project:xss', data: { html: planted } }),
    });
    expect(published.status).toBe(200);

    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin/channels#key=${encodeURIComponent(s.apiKey)}`);
    await page.getByTestId('channels-tenant').fill('acme');
    await page.getByRole('button', { name: 'Show channels' }).click();
    await page.getByRole('button', { name: 'project:xss' }).click();
    await expect.poll(() => page.getByTestId('channel-presence').textContent(), POLL).toContain('present (online, 1 device)');
    expect(await page.getByTestId('channel-presence').textContent()).toContain(JSON.stringify(planted));
    await expect.poll(() => page.getByTestId('channel-history').textContent(), POLL).toContain(planted.replaceAll('"', '\\"'));
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(await axeViolations(page)).toEqual([]);

    await page.getByTestId('publish-data').fill('{"text":"from the console"}');
    await page.getByTestId('publish-submit').click();
    await expect.poll(() => page.getByTestId('channel-history').textContent(), POLL).toContain('{"text":"from the console"}');
    expect(await page.evaluate(() => (window as unknown as { planted?: number }).planted)).toBeUndefined();
    expect(await cspViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it("the channels page shows each channel's publish rate and members present: N publications over HTTP make its rate rise above zero, a quiet channel's stays 0", async () => {
    const member = await connectedClient(s.url, () => s.token({ sub: 'rate-watcher' }), cleanup);
    for (const channel of ['project:rated', 'project:quiet']) {
      const sub = member.subscribe(channel);
      await new Promise((r) => sub.once('subscribed', r));
      // Present on the one, only subscribed to the other.
      if (channel === 'project:rated') await sub.enterPresence({ watching: true });
    }
    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin/channels#key=${encodeURIComponent(s.apiKey)}`);
    await page.getByTestId('channels-tenant').fill('acme');
    await page.getByRole('button', { name: 'Show channels' }).click();
    const rate = async (channel: string) =>
      Number(await page.locator(`[data-testid="channel-row"][data-channel="${channel}"]`).getByTestId('channel-rate').textContent());
    await expect.poll(() => rate('project:rated'), POLL).toBe(0);
    const N = 20;
    for (let i = 0; i < N; i++) {
      const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'project:rated', data: { i } }),
      });
      expect(res.status).toBe(200);
    }
    const sentAt = Date.now();
    await expect.poll(() => rate('project:rated'), POLL).toBeGreaterThan(0);
    const shown = await rate('project:rated');
    console.log(`channel publish rate: ${shown}/s shown ${Date.now() - sentAt} ms after ${N} publications (at most ${N / 10}/s over the 10 s window)`);
    expect(shown).toBeLessThanOrEqual(N / 10);
    expect(await rate('project:quiet')).toBe(0);
    // Its presence column: one member on the channel entered, none on the other.
    const present = async (channel: string) =>
      Number(await page.locator(`[data-testid="channel-row"][data-channel="${channel}"]`).getByTestId('channel-present').textContent());
    await expect.poll(() => present('project:rated'), POLL).toBe(1);
    expect(await present('project:quiet')).toBe(0);
    expect(await page.getByRole('columnheader', { name: 'Publications per second (last 10 s)' }).count()).toBe(1);
    expect(await axeViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it("the start page and the demo workspace's name form pass axe as well", async () => {
    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/`);
    await page.getByRole('link', { name: 'Admin view' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await leave(page, () => page.goto(`${s.httpUrl}/console/demo`));
    await page.getByTestId('demo-name').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it('over the whole run: no console error, page error, failed request, HTTP error or CSP report', () => {
    expect(problems).toEqual({ console: [], page: [], failed: [], http: [], csp: [] });
  });
});
