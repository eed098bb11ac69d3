import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConfigInput, type FeatureModule, Switchboard } from '@switchboard/server';
import { createStoredApiKey } from '@switchboard/server/testing';
import type { Logger } from 'pino';

export interface TestTokenClaims {
  sub: string;
  tenant?: string;
  caps?: Record<string, string[]>;
  ttlSeconds?: number;
  info?: unknown;
  /** Channels subscribed server-side at connect. */
  subs?: unknown;
}

export interface TestServer {
  /** WebSocket endpoint, e.g. ws://127.0.0.1:PORT/ws (wss:// with tlsCert) */
  url: string;
  httpUrl: string;
  port: number;
  server: Switchboard;
  /** Admin API key (names the tenant per request). */
  apiKey: string;
  /** Tenant-scoped API keys for tenants acme, demo and other. */
  tenantKeys: Record<string, string>;
  dataDir: string;
  token(claims: TestTokenClaims): Promise<string>;
  close(): Promise<void>;
}

export const ALL_ACTIONS = ['subscribe', 'publish', 'presence', 'history', 'signal', 'lock', 'comment'];
/** What `token()` grants when the claims name no `caps`. */
export const DEFAULT_CAPS = {
  'project:*': ALL_ACTIONS,
  'chat:*': ALL_ACTIONS,
  'doc:*': ['subscribe', 'publish', 'presence'],
  'form:*': ['subscribe', 'publish', 'presence', 'signal', 'lock'],
};

type Overrides = ConfigInput & {
  features?: FeatureModule[];
  keepDataDir?: string;
  /** The server's clock for token checks and connection deadlines (tests move it instead of waiting). */
  now?: () => number;
  /** Where the server logs (default: nowhere, `logLevel: 'silent'`). */
  logger?: Logger;
};

/** Start a real server on 127.0.0.1 (port 0 unless given) with a fresh data directory. */
export async function startTestServer(overrides: Overrides = {}): Promise<TestServer> {
  const { features, keepDataDir, now, logger, ...config } = overrides;
  const dataDir = keepDataDir ?? mkdtempSync(join(tmpdir(), 'sb-test-'));
  const tenantKeys: Record<string, string> = {};
  if (!keepDataDir) for (const t of ['acme', 'demo', 'other']) tenantKeys[t] = createStoredApiKey(dataDir, t).key;
  const server = await Switchboard.create({
    config: { logLevel: 'silent', host: '127.0.0.1', port: 0, ...config, dataDir },
    ...(features ? { features } : {}),
    ...(now ? { now } : {}),
    ...(logger ? { logger } : {}),
  });
  const { port } = await server.listen();
  const secure = server.tls !== null;
  return {
    url: `${secure ? 'wss' : 'ws'}://127.0.0.1:${port}/ws`,
    httpUrl: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    server,
    apiKey: server.devAdminKey as string,
    tenantKeys,
    dataDir,
    token: (c) =>
      server.mintToken({
        sub: c.sub,
        tenant: c.tenant ?? 'acme',
        caps: (c.caps ?? DEFAULT_CAPS) as never,
        ttlSeconds: c.ttlSeconds ?? 3600,
        ...(c.info !== undefined ? { info: c.info } : {}),
        ...(c.subs !== undefined ? { subs: c.subs as string[] } : {}),
      }),
    async close() {
      await server.close();
      if (!keepDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
