// @ts-check
/**
 * The y-websocket reference server (`@y/websocket-server`, pinned in bench/package.json)
 * as its own `server.js` sets it up: `setupWSConnection` on every connection, documents in
 * memory (no YPERSISTENCE), no authentication. The document name is the URL path.
 * Run by bench/documents.ts through the IPC harness.
 */
import { createServer } from 'node:http';
import { setupWSConnection } from '@y/websocket-server/utils';
import { WebSocketServer } from 'ws';
import { serve } from './harness.mjs';

await serve(async () => {
  const wss = new WebSocketServer({ noServer: true });
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('okay');
  });
  wss.on('connection', (ws, req) => setupWSConnection(ws, req));
  http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
  await new Promise((resolve) => http.listen(0, '127.0.0.1', () => resolve(undefined)));
  return {
    port: /** @type {import('node:net').AddressInfo} */ (http.address()).port,
    connections: () => wss.clients.size,
    close: () =>
      new Promise((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        http.close(() => resolve(undefined));
      }),
  };
});
