import { type ClientOptions, SwitchboardClient } from '@switchboard/client';
import { afterAll, afterEach, beforeAll } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer, type TestTokenClaims } from '../../../test/helpers/server.js';

type ServerOverrides = Parameters<typeof startTestServer>[0];

/**
 * One real server for the calling test file (`overrides` over the test defaults), and SDK
 * clients (over `ws`) that are disconnected after each test.
 */
export function useRealServer(overrides: ServerOverrides = {}): {
  server(): TestServer;
  client(claims: TestTokenClaims, options?: ClientOptions): SwitchboardClient;
} {
  let server: TestServer | undefined;
  const clients: SwitchboardClient[] = [];
  beforeAll(async () => {
    server = await startTestServer(overrides);
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });
  afterAll(async () => {
    await server?.close();
  });
  const current = (): TestServer => {
    if (server === undefined) throw new Error('the test server is not started yet');
    return server;
  };
  return {
    server: current,
    client(claims, options = {}) {
      const client = new SwitchboardClient(current().url, { getToken: () => current().token(claims), WebSocket, ...options });
      clients.push(client);
      return client;
    },
  };
}
