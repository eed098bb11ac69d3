import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * A reverse proxy like the corporate ones that break WebSockets: it forwards plain HTTP
 * (streamed both ways, so Server-Sent Events pass) and refuses every Upgrade with 403 until
 * `allowUpgrades` is set. `cut()` drops every connection through it, as a network blip does.
 * `holdReplies` keeps what the server sends on upgraded connections from reaching the client
 * (held, not lost: released in order when it is cleared), as a link that went dead one way does.
 */
export interface BlockingProxy {
  /** e.g. ws://127.0.0.1:PORT/ws */
  url: string;
  httpUrl: string;
  allowUpgrades: boolean;
  /** Upgrade requests refused so far. */
  refused: number;
  /** Upgrades passed through so far. */
  upgraded: number;
  holdReplies: boolean;
  cut(): void;
  close(): Promise<void>;
}

/** Targets: one port, or several taken in turn for every request (a load balancer without affinity). */
export async function startBlockingProxy(target: number | number[]): Promise<BlockingProxy> {
  const ports = Array.isArray(target) ? target : [target];
  let turn = 0;
  const nextPort = (): number => ports[turn++ % ports.length] as number;
  const sockets = new Set<Duplex>();
  const track = (s: Duplex) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };
  const server: Server = createServer((req, res) => {
    const upstream = request({ host: '127.0.0.1', port: nextPort(), method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      res.flushHeaders();
      up.pipe(res);
      up.on('error', () => res.destroy());
    });
    upstream.on('error', () => res.destroy());
    upstream.on('socket', (s) => track(s));
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (s: Socket) => track(s));
  let holding = false;
  const releases = new Set<() => void>();
  const proxy: BlockingProxy = {
    url: '',
    httpUrl: '',
    allowUpgrades: false,
    refused: 0,
    upgraded: 0,
    get holdReplies() {
      return holding;
    },
    set holdReplies(hold: boolean) {
      holding = hold;
      if (!hold) for (const release of releases) release();
    },
    cut: () => {
      for (const s of [...sockets]) s.destroy();
    },
    close: async () => {
      proxy.cut();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    if (!proxy.allowUpgrades) {
      proxy.refused++;
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    proxy.upgraded++;
    const upstream = connect(nextPort(), '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      socket.pipe(upstream);
      const held: Buffer[] = [];
      const release = () => {
        if (held.length > 0 && !socket.destroyed) socket.write(Buffer.concat(held.splice(0)));
      };
      releases.add(release);
      socket.on('close', () => releases.delete(release));
      upstream.on('data', (chunk: Buffer) => {
        held.push(chunk);
        if (!holding) release();
      });
    });
    track(upstream);
    upstream.on('close', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  proxy.url = `ws://127.0.0.1:${port}/ws`;
  proxy.httpUrl = `http://127.0.0.1:${port}`;
  return proxy;
}
