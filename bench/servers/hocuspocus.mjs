// @ts-check
/**
 * Hocuspocus (`@hocuspocus/server`, pinned in bench/package.json) with its defaults: in
 * memory (no storage extension), no authentication hook (any token is accepted), updates
 * broadcast once per event-loop turn (its default `flushDelay: 0`), logs off.
 * Run by bench/documents.ts through the IPC harness.
 */
import { Server } from '@hocuspocus/server';
import { serve } from './harness.mjs';

await serve(async () => {
  const server = new Server({ port: 0, address: '127.0.0.1', quiet: true, stopOnSignals: false });
  await server.listen();
  return {
    port: server.address.port,
    connections: () => server.hocuspocus.getConnectionsCount(),
    close: () => server.destroy(),
  };
});
