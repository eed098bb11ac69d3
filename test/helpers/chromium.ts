import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

/**
 * The headless Chromium the browser tests drive: `CHROMIUM` when set, else Debian's
 * (`.ci/run` installs it); nothing is ever downloaded.
 */
export const CHROMIUM = process.env['CHROMIUM'] || '/usr/bin/chromium';

const root = join(import.meta.dirname, '..', '..');

export interface Chromium {
  browser: BrowserContext;
  close(): Promise<void>;
}

/** Launch Chromium headless with a fresh profile directory, removed on close. */
export async function launchChromium(): Promise<Chromium> {
  const userDir = mkdtempSync(join(tmpdir(), 'sb-chromium-'));
  // A persistent context is how a user-data-dir is given.
  const browser = await chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      // /dev/shm is small in containers: shared memory goes to /tmp instead of crashing tabs.
      '--disable-dev-shm-usage',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
      rmSync(userDir, { recursive: true, force: true });
    },
  };
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** The test's own web origin: pages by path, routes by path, and the SDK's compiled modules under /client/ and /protocol/. */
export interface PageServer {
  origin: string;
  pages: Map<string, string>;
  routes: Map<string, RouteHandler>;
  close(): Promise<void>;
}

export async function startPageServer(): Promise<PageServer> {
  const pages = new Map<string, string>();
  const routes = new Map<string, RouteHandler>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    const page = pages.get(path);
    if (page !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page);
      return;
    }
    const route = routes.get(path);
    if (route) {
      route(req, res);
      return;
    }
    const m = /^\/(client|protocol)\/(.+)$/.exec(path);
    const file = m ? normalize(join(root, 'packages', m[1] as string, 'dist', m[2] as string)) : '';
    if (!m || !file.startsWith(join(root, 'packages')) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    pages,
    routes,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
