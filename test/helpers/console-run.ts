import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';

/**
 * What the console's browser tests record over a run: every console error, page error,
 * failed request, HTTP status ≥ 400 and CSP violation of the pages they open, with the
 * `leave()` wrapper for the test's own navigations, and axe-core's serious and critical
 * violations of a page.
 */

/** How long a live value may take to show (the page reads every 1–2 s; the machine may be loaded). */
export const POLL = { timeout: 30_000, interval: 100 };

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface Problems {
  console: string[];
  page: string[];
  failed: string[];
  http: string[];
  csp: string[];
}

export interface ConsoleRun {
  /** Everything recorded so far; a test takes out what it provoked on purpose. */
  readonly problems: Problems;
  /** A new tab whose every problem is recorded; CSP violations are caught by a listener the page's CSP does not govern. */
  newPage(): Promise<Page>;
  /** Runs one of the test's own navigations (reload, goto, back, close) of a page whose polls may be in flight. */
  leave<T>(page: Page, action: () => Promise<T>): Promise<T>;
}

/** Record the problems of every page opened through the run's `newPage` in `browser()`. */
export function consoleRun(browser: () => Browser): ConsoleRun {
  const problems: Problems = { console: [], page: [], failed: [], http: [], csp: [] };
  /** Pages the test is navigating away from or closing: Chromium cancels their reads in flight (ERR_ABORTED), which is no failure of the page's own. */
  const leaving = new WeakSet<Page>();
  return {
    problems,
    async leave(page, action) {
      leaving.add(page);
      try {
        return await action();
      } finally {
        leaving.delete(page);
      }
    },
    async newPage() {
      const page = await browser().newPage();
      await page.addInitScript(() => {
        const w = window as unknown as { cspViolations: string[] };
        w.cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
      });
      page.on('console', (m) => {
        if (m.type() === 'error') problems.console.push(m.text());
      });
      page.on('pageerror', (e) => problems.page.push(e.message));
      page.on('requestfailed', (r) => {
        const error = r.failure()?.errorText ?? '';
        if (leaving.has(page) && r.method() === 'GET' && error === 'net::ERR_ABORTED') return;
        problems.failed.push(`${r.method()} ${r.url()} ${error}`);
      });
      page.on('response', (r) => {
        if (r.status() >= 400) problems.http.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
      });
      return page;
    },
  };
}

export async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
}

/** axe-core's serious and critical violations on the page as it is now (its source evaluated over the protocol, as no page script could be). */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run(ctx: Document, opts: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; nodes: unknown[] }> }> };
      }
    ).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}, ${v.nodes} nodes)`);
}
