import { SwitchboardClient, type ClientOptions } from '@switchboard/client';
import { afterAll, afterEach, beforeAll } from 'vitest';
import WebSocket from 'ws';
import { type TestServer, type TestTokenClaims, startTestServer } from '../../../test/helpers/server.js';

/**
 * One real server for the calling test file, and SDK clients (over `ws`) that are
 * disconnected after each test.
 */
export function useRealServer(): {
  server(): TestServer;
  client(claims: TestTokenClaims, options?: ClientOptions): SwitchboardClient;
} {
  let server: TestServer | undefined;
  const clients: SwitchboardClient[] = [];
  beforeAll(async () => {
    server = await startTestServer();
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
