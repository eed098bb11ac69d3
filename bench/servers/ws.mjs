// @ts-check
/**
 * The floor: a raw `ws` server with naive broadcast — a Set of subscribers per channel
 * and one `send` of the JSON string per subscriber. No auth, no limits, no history.
 * With BENCH_DEFLATE=1, permessage-deflate with ws's defaults (per-socket compression with
 * context takeover, 1 KB threshold), as bench/compression.ts runs it.
 */
import { WebSocketServer } from 'ws';
import { serve } from './harness.mjs';

await serve(async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: process.env['BENCH_DEFLATE'] === '1' });
  await new Promise((resolve) => wss.once('listening', () => resolve(undefined)));
  /** @type {Map<string, Set<import('ws').WebSocket>>} */
  const channels = new Map();
  wss.on('connection', (ws) => {
    /** @type {Set<string>} */
    const mine = new Set();
    ws.on('message', (raw) => {
      /** @type {{ type?: unknown, channel?: unknown, data?: unknown }} */
      let msg;
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        return;
      }
      if (typeof msg.channel !== 'string') return;
      if (msg.type === 'sub') {
        let set = channels.get(msg.channel);
        if (!set) {
          set = new Set();
          channels.set(msg.channel, set);
        }
        set.add(ws);
        mine.add(msg.channel);
        ws.send('{"type":"subok"}');
      } else if (msg.type === 'pub') {
        const text = JSON.stringify({ type: 'pub', channel: msg.channel, data: msg.data });
        for (const sub of channels.get(msg.channel) ?? []) sub.send(text);
      }
    });
    ws.on('close', () => {
      for (const ch of mine) channels.get(ch)?.delete(ws);
    });
    ws.on('error', () => {});
  });
  return {
    port: /** @type {import('node:net').AddressInfo} */ (wss.address()).port,
    connections: () => wss.clients.size,
    close: () =>
      new Promise((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve(undefined));
      }),
  };
});
