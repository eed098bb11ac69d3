// @ts-check
/**
 * A minimal Socket.IO 4.8 server as the teams wrote it: JWT check in a middleware,
 * rooms, `io.to(room).emit`, WebSocket transport only (no long-polling), no compression.
 * With BENCH_SOCKETIO_REDIS (a Redis URL) it runs on `@socket.io/redis-adapter` (ioredis),
 * as a team scaling out to several nodes would: each broadcast is one PUBLISH, and every
 * node delivers it to its local room members; BENCH_PREFIX is the adapter's channel prefix.
 * With BENCH_DEFLATE=1, compression on (perMessageDeflate with its 1 KB threshold), as
 * bench/compression.ts runs it.
 */
import { createServer } from 'node:http';
import { jwtVerify } from 'jose';
import { Server } from 'socket.io';
import { secretFromEnv, serve } from './harness.mjs';

await serve(async () => {
  const key = new TextEncoder().encode(secretFromEnv());
  const http = createServer();
  const io = new Server(http, {
    transports: ['websocket'],
    serveClient: false,
    perMessageDeflate: process.env['BENCH_DEFLATE'] === '1' ? { threshold: 1024 } : false,
  });
  const redisUrl = process.env['BENCH_SOCKETIO_REDIS'];
  /** @type {Array<{ disconnect(): void }>} */
  const redisClients = [];
  if (redisUrl) {
    const { createAdapter } = await import('@socket.io/redis-adapter');
    const { Redis } = await import('ioredis');
    const pub = new Redis(redisUrl);
    const sub = pub.duplicate();
    redisClients.push(pub, sub);
    io.adapter(createAdapter(pub, sub, { key: process.env['BENCH_PREFIX'] ?? 'socket.io' }));
  }
  io.use((socket, next) => {
    const token = socket.handshake.auth['token'];
    if (typeof token !== 'string') return next(new Error('unauthorized'));
    jwtVerify(token, key, { algorithms: ['HS256'] }).then(
      ({ payload }) => {
        socket.data.user = payload.sub;
        next();
      },
      () => next(new Error('unauthorized')),
    );
  });
  io.on('connection', (socket) => {
    socket.on('join', (/** @type {unknown} */ room, /** @type {unknown} */ ack) => {
      if (typeof room === 'string') void socket.join(room);
      if (typeof ack === 'function') ack();
    });
    socket.on('publish', (/** @type {{ room?: unknown, data?: unknown }} */ msg, /** @type {unknown} */ ack) => {
      if (msg && typeof msg.room === 'string') io.to(msg.room).emit('pub', msg.data);
      if (typeof ack === 'function') ack({ ok: true });
    });
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', () => resolve(undefined)));
  return {
    port: /** @type {import('node:net').AddressInfo} */ (http.address()).port,
    connections: () => io.engine.clientsCount,
    close: () =>
      new Promise((resolve) => {
        io.close(() => {
          for (const c of redisClients) c.disconnect();
          resolve();
        });
      }),
  };
});
