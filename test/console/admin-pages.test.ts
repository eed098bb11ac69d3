import { existsSync } from 'node:fs';
import { createStoredApiKey } from '@switchboard/server/testing';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, type Chromium, launchChromium } from '../helpers/chromium.js';
import { axeViolations, consoleRun, cspViolations, POLL } from '../helpers/console-run.js';
import { RawClient } from '../helpers/raw-client.js';
import { connectedClient } from '../helpers/sdk-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The console's presence and errors pages in real headless Chromium against a real server:
 * the presence page shows a real SDK member with its status and state and follows it as it
 * goes away and leaves; the errors page shows provoked errors by code with exact counts, and
 * HTML planted in an error example renders as text; a read-only key finds every destructive
 * action disabled. Over the whole run: no console error, page error, failed request, HTTP
 * error, CSP report or serious axe-core violation, as test/console/admin.test.ts records them.
 */

let s: TestServer;
let chromium: Chromium;
const cleanup: Array<() => void> = [];
const { problems, newPage, leave } = consoleRun(() => chromium.browser);

const PLANTED = '<img src=x onerror=window.planted=1>';

/** The text of a row's cell, found by test id. */
const cell = (page: Page, row: string, testId: string) => page.locator(row).getByTestId(testId).textContent();

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

describe('the presence and errors pages in headless Chromium', () => {
  it('the presence page shows a real SDK member with its status and state as text, follows it to away, and drops it when it leaves', async () => {
    const member = await connectedClient(s.url, () => s.token({ sub: 'pat', tenant: 'acme' }), cleanup);
    const room = member.subscribe('project:presence-page');
    await new Promise((r) => room.once('subscribed', r));
    await room.enterPresence({ page: PLANTED });

    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin/presence#key=${encodeURIComponent(s.apiKey)}`);
    await page.getByTestId('presence-tenant').fill('acme');
    await page.getByRole('button', { name: 'Show presence' }).click();
    const row = '[data-testid="presence-channel"][data-channel="project:presence-page"] [data-testid="presence-member"][data-user="pat"]';
    await page.locator(row).waitFor({ timeout: 30_000 });
    expect(await cell(page, row, 'presence-status')).toBe('online');
    expect(await cell(page, row, 'presence-state')).toBe(JSON.stringify({ page: PLANTED }));
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(await axeViolations(page)).toEqual([]);

    await member.setStatus('away');
    await expect.poll(() => cell(page, row, 'presence-status'), POLL).toBe('away');
    member.disconnect();
    await expect.poll(() => page.locator(row).count(), POLL).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { planted?: number }).planted)).toBeUndefined();
    expect(await cspViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it('a tenant key sees its own tenant on the presence page, without naming it', async () => {
    const member = await connectedClient(s.url, () => s.token({ sub: 'olga', tenant: 'other' }), cleanup);
    const room = member.subscribe('project:mine');
    await new Promise((r) => room.once('subscribed', r));
    await room.enterPresence({ page: 'home' });
    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin/presence#key=${encodeURIComponent(s.tenantKeys['other'] as string)}`);
    await page.locator('[data-testid="presence-member"][data-user="olga"]').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('presence-tenant').count()).toBe(0);
    expect(await page.locator('[data-testid="presence-member"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-user')))).toEqual(['olga']);
    expect(await page.getByTestId('presence-summary').textContent()).toContain('tenant other');
    member.disconnect();
    await leave(page, () => page.close());
  }, 120_000);

  it("the errors page shows provoked errors' codes and exact counts, follows a new one, and shows planted HTML in an example as text", async () => {
    // In tenant demo, which nothing else in this run uses: 3 unknown commands on a socket, one refused publish over HTTP.
    const sock = await RawClient.connect(s.url, await s.token({ sub: 'noisy', tenant: 'demo' }));
    cleanup.push(() => sock.close());
    for (let i = 0; i < 3; i++) expect((await sock.call('nosuch', {})).error?.code).toBe(104);
    const refused = await fetch(`${s.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenantKeys['demo']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'project:x', data: 1, tags: { [PLANTED]: 5 } }),
    });
    expect(refused.status).toBe(400);

    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin/errors#key=${encodeURIComponent(s.tenantKeys['demo'] as string)}`);
    const unknown = '[data-testid="error-row"][data-code="104"]';
    await expect.poll(() => cell(page, unknown, 'error-count'), POLL).toBe('3');
    expect(await cell(page, unknown, 'error-recent')).toBe('3');
    expect(await cell(page, '[data-testid="error-row"][data-code="107"]', 'error-count')).toBe('1');
    expect(await page.getByTestId('error-row').count()).toBe(2);
    const examples = page.locator('[data-testid="error-examples"][data-code="107"]');
    expect(await examples.textContent()).toContain(PLANTED);
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(await axeViolations(page)).toEqual([]);

    expect((await sock.call('nosuch', {})).error?.code).toBe(104);
    await expect.poll(() => cell(page, unknown, 'error-count'), POLL).toBe('4');
    await page.getByTestId('errors-minutes').selectOption('1');
    await expect.poll(() => page.locator('thead').textContent(), POLL).toContain('Last 1 min');
    expect(await page.evaluate(() => (window as unknown as { planted?: number }).planted)).toBeUndefined();
    expect(await cspViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it('an admin key sees every tenant on the errors page, and may narrow to one', async () => {
    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin/errors#key=${encodeURIComponent(s.apiKey)}`);
    await page.locator('[data-testid="error-row"][data-code="104"]').waitFor({ timeout: 30_000 });
    await page.getByTestId('errors-tenant').fill('acme');
    await expect.poll(() => page.locator('[data-testid="error-row"][data-code="104"]').count(), POLL).toBe(0);
    expect(await axeViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it('a read-only key finds every destructive action disabled on every admin page', async () => {
    const readOnly = createStoredApiKey(s.dataDir, null, true).key;
    await connectedClient(s.url, () => s.token({ sub: 'watched', tenant: 'acme' }), cleanup);
    const page = await newPage();
    await page.goto(`${s.httpUrl}/console/admin/connections#key=${encodeURIComponent(readOnly)}`);
    expect(await page.getByTestId('key-scope').textContent()).toBe('admin key, read-only');
    const row = page.locator('[data-testid="connection-row"][data-user="watched"]');
    await row.waitFor({ timeout: 30_000 });
    expect(await row.getByTestId('disconnect').isDisabled()).toBe(true);

    await page.getByRole('link', { name: 'Channels' }).click();
    await page.getByTestId('channels-tenant').fill('acme');
    await page.getByRole('button', { name: 'Show channels' }).click();
    await page.getByTestId('channel-name').fill('project:any');
    await page.getByRole('button', { name: 'Open' }).click();
    expect(await page.getByTestId('publish-submit').isDisabled()).toBe(true);

    // The presence and errors pages only read: their buttons choose what to show, none acts.
    for (const [title, ready] of [
      ['Presence', 'presence-tenant'],
      ['Errors', 'errors-total'],
    ] as const) {
      await page.getByRole('link', { name: title }).click();
      await page.getByTestId(ready).waitFor();
      const buttons = await page.locator('main button').allTextContents();
      expect(
        buttons.every((b) => /^Show /.test(b)),
        `${title}: ${buttons.join(', ')}`,
      ).toBe(true);
      expect(await page.locator('main .danger').count()).toBe(0);
    }
    expect(await cspViolations(page)).toEqual([]);
    await leave(page, () => page.close());
  }, 120_000);

  it('over the whole run: no console error, page error, failed request, HTTP error or CSP report', () => {
    expect(problems).toEqual({ console: [], page: [], failed: [], http: [], csp: [] });
  });
});
