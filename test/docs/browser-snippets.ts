import type { Page } from 'playwright-core';
import { type Chromium, launchChromium, type PageServer, startPageServer } from '../helpers/chromium.js';

/**
 * Browser snippets and HTML examples run in headless Chromium, on a page of the test's own
 * origin. The SDK is imported by its package names (an import map onto the built modules);
 * `/api/realtime-token` of that origin stands in for the app backend that mints tokens.
 */

const IMPORT_MAP = JSON.stringify({
  imports: {
    '@switchboard/protocol': '/protocol/index.js',
    '@switchboard/client': '/client/index.js',
    '@switchboard/client/notifications': '/client/notifications.js',
    '@switchboard/client/activity': '/client/activity.js',
  },
});

export interface PageContext {
  wsUrl: string;
  token: string;
}

export class BrowserSnippets {
  #chromium: Chromium | null = null;
  #web: PageServer | null = null;
  #pages = 0;

  constructor(readonly context: PageContext) {}

  async #start(): Promise<{ chromium: Chromium; web: PageServer }> {
    if (this.#chromium && this.#web) return { chromium: this.#chromium, web: this.#web };
    this.#web = await startPageServer();
    const token = this.context.token;
    this.#web.routes.set('/api/realtime-token', (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(token));
    // Chromium asks every origin for its icon; a 404 would read as a failure of the page.
    this.#web.routes.set('/favicon.ico', (_req, res) => res.writeHead(204).end());
    this.#chromium = await launchChromium();
    return { chromium: this.#chromium, web: this.#web };
  }

  #head(): string {
    const docs = JSON.stringify({ wsUrl: this.context.wsUrl, token: this.context.token });
    // getToken as an app defines it: ask its own backend.
    return `<script type="importmap">${IMPORT_MAP}</script>
<script>window.__DOCS = ${docs};
function getToken() { return fetch('/api/realtime-token', { method: 'POST' }).then((r) => r.text()); }</script>`;
  }

  /** Run a module script (JavaScript) until its end; the errors the page reported. */
  runModule(js: string, timeout: number): Promise<string[]> {
    const html = `<!doctype html><html><head>${this.#head()}</head><body><script type="module">
${js}
;window.__docsDone = true;
</script></body></html>`;
    return this.#open(html, timeout, (page) =>
      page.waitForFunction(() => (window as unknown as { __docsDone?: boolean }).__docsDone === true, undefined, { timeout }),
    );
  }

  /** Load an HTML example; the errors the page reported by the time it loaded. */
  runHtml(html: string, timeout: number): Promise<string[]> {
    const page = `<!doctype html><html><head>${this.#head()}</head><body>\n${html}\n</body></html>`;
    return this.#open(page, timeout, async () => {});
  }

  async #open(html: string, timeout: number, finished: (page: Page) => Promise<unknown>): Promise<string[]> {
    const { chromium, web } = await this.#start();
    const path = `/doc-${++this.#pages}`;
    web.pages.set(path, html);
    const page = await chromium.browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`console error: ${msg.text()}`);
    });
    page.on('requestfailed', (req) => errors.push(`request failed: ${req.url()} (${req.failure()?.errorText})`));
    page.on('response', (res) => {
      if (res.status() >= 400) errors.push(`${res.status()} for ${res.url()}`);
    });
    try {
      await page.goto(`${web.origin}${path}`, { waitUntil: 'load', timeout });
      await Promise.race([
        finished(page),
        new Promise<void>((resolve) => {
          const check = setInterval(() => {
            if (errors.length > 0) {
              clearInterval(check);
              resolve();
            }
          }, 20);
          page.once('close', () => clearInterval(check));
        }),
      ]);
    } catch (err) {
      errors.push((err as Error).message.split('\n')[0] as string);
    } finally {
      await page.close();
    }
    return errors;
  }

  async close(): Promise<void> {
    await this.#chromium?.close();
    await this.#web?.close();
  }
}
