import { type AddressInfo, createConnection, createServer, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Bytes held back while stalled, per direction. */
  toUpstream: Buffer[];
  toClient: Buffer[];
}

/**
 * A TCP proxy between the test's nodes and the shared Redis, so a test can take Redis away
 * from its own nodes only: `cut` drops every connection and refuses new ones (Redis down),
 * `stall` holds every byte without closing (Redis paused, or a half-open network),
 * `restore` goes back to normal. The machine's Redis is never touched.
 */
export class RedisProxy {
  #mode: 'open' | 'cut' | 'stall' = 'open';
  /** Chunks received from the nodes (one per socket write that reached the proxy), for pipelining checks. */
  writes = 0;
  readonly #pairs = new Set<Pair>();

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {
    server.on('connection', (client) => this.#accept(client));
  }

  static async start(target = { host: '127.0.0.1', port: 6379 }): Promise<RedisProxy> {
    const server = createServer();
    const proxy = new RedisProxy(server, target);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get connections(): number {
    return this.#pairs.size;
  }

  cut(): void {
    this.#mode = 'cut';
    for (const pair of this.#pairs) this.#drop(pair);
  }

  stall(): void {
    this.#mode = 'stall';
  }

  restore(): void {
    this.#mode = 'open';
    for (const pair of this.#pairs) {
      for (const chunk of pair.toUpstream.splice(0)) pair.upstream.write(chunk);
      for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk);
    }
  }

  async close(): Promise<void> {
    for (const pair of this.#pairs) this.#drop(pair);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.#mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = createConnection(this.target);
    const pair: Pair = { client, upstream, toUpstream: [], toClient: [] };
    this.#pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      this.writes++;
      if (this.#mode === 'stall') pair.toUpstream.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.#mode === 'stall') pair.toClient.push(chunk);
      else client.write(chunk);
    });
    const drop = () => this.#drop(pair);
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
  }

  #drop(pair: Pair): void {
    this.#pairs.delete(pair);
    pair.client.destroy();
    pair.upstream.destroy();
  }
}
