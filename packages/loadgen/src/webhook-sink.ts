import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Histogram } from './histogram.js';
import { nowUs } from './proc.js';

/** What the sink knows of one event id. */
interface Seen {
  /** Requests that carried it. */
  requests: number;
  /** 2xx answers to requests that carried it. */
  ok: number;
}

/**
 * A webhook receiver for the bench, on 127.0.0.1: checks every request's Standard Webhooks
 * signature with node:crypto, answers 2xx (or, with `failRate`, 500 at random), and keeps per
 * event id how often it came and how often it was answered 2xx, so that the bench can prove
 * "nothing lost, nothing re-sent after a 2xx". The latency of an event is from its `timestamp`
 * (the server's clock when it was committed, ms) to the first byte of the first request that
 * carried it (the same machine's clock).
 */
export class WebhookSink {
  readonly latency = new Histogram();
  readonly seen = new Map<string, Seen>();
  requests = 0;
  failedRequests = 0;
  badSignatures = 0;
  /** Events that came again in a request after one of their requests was answered 2xx. */
  resentAfterOk = 0;
  /** nowUs() of the last request. */
  lastUs = 0;
  /** nowUs() of the first request answered 2xx since `reset` or `up` (0: none yet). */
  firstOkUs = 0;
  failRate = 0;
  /** An outage: every request is answered 503 at once, its events not counted as received. */
  down = false;
  /** Requests answered 503 during an outage. */
  refusedRequests = 0;
  #key: Buffer = Buffer.alloc(0);
  readonly #server: Server;
  #random: () => number;

  private constructor(server: Server, random: () => number) {
    this.#server = server;
    this.#random = random;
  }

  static async start(random: () => number): Promise<WebhookSink> {
    const server = createServer({ keepAlive: true });
    const sink = new WebhookSink(server, random);
    server.on('request', (req, res) => sink.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return sink;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`;
  }

  /** The endpoint's `whsec_…` secret, to check signatures with. */
  set secret(secret: string) {
    this.#key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  }

  /** Forget what was received (a new phase). */
  reset(): void {
    this.latency.reset();
    this.seen.clear();
    this.requests = 0;
    this.failedRequests = 0;
    this.badSignatures = 0;
    this.resentAfterOk = 0;
    this.lastUs = 0;
    this.firstOkUs = 0;
    this.down = false;
    this.refusedRequests = 0;
  }

  /** The outage ends: requests are answered again, and `firstOkUs` is the first 2xx from now. */
  up(): void {
    this.down = false;
    this.firstOkUs = 0;
  }

  /** Events answered 2xx at least once. */
  delivered(): number {
    let n = 0;
    for (const s of this.seen.values()) if (s.ok > 0) n++;
    return n;
  }

  /** Events answered 2xx more than once. */
  duplicates(): number {
    let n = 0;
    for (const s of this.seen.values()) if (s.ok > 1) n++;
    return n;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.down) {
      this.refusedRequests++;
      req.resume();
      res.writeHead(503).end();
      return;
    }
    // The event's timestamp is the server's wall clock (ms): compare with this machine's.
    const firstByteUs = Date.now() * 1000;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.requests++;
      this.lastUs = nowUs();
      const body = Buffer.concat(chunks).toString('utf8');
      if (!this.#verified(req, body)) this.badSignatures++;
      const events = this.#events(req, body);
      const fail = this.failRate > 0 && this.#random() < this.failRate;
      for (const e of events) {
        let s = this.seen.get(e.id);
        if (!s) {
          s = { requests: 0, ok: 0 };
          this.seen.set(e.id, s);
          this.latency.record(firstByteUs - e.timestamp * 1000);
        }
        if (s.ok > 0) this.resentAfterOk++;
        s.requests++;
        if (!fail) s.ok++;
      }
      if (fail) this.failedRequests++;
      else if (this.firstOkUs === 0) this.firstOkUs = this.lastUs;
      res.writeHead(fail ? 500 : 204).end();
    });
  }

  #verified(req: IncomingMessage, body: string): boolean {
    const id = String(req.headers['webhook-id'] ?? '');
    const timestamp = String(req.headers['webhook-timestamp'] ?? '');
    const expected = Buffer.from(createHmac('sha256', this.#key).update(`${id}.${timestamp}.${body}`).digest('base64'));
    return String(req.headers['webhook-signature'] ?? '')
      .split(' ')
      .map((s) => Buffer.from(s.replace(/^v1,/, '')))
      .some((s) => s.length === expected.length && timingSafeEqual(s, expected));
  }

  /** The events a request carries: one, or a batch's, each with its id and commit time (ms). */
  #events(req: IncomingMessage, body: string): Array<{ id: string; timestamp: number }> {
    const parsed = JSON.parse(body) as { type: string; timestamp: string; events?: Array<{ id: string; timestamp: string }> };
    if (parsed.type === 'batch' && parsed.events) return parsed.events.map((e) => ({ id: e.id, timestamp: Date.parse(e.timestamp) }));
    return [{ id: String(req.headers['webhook-id'] ?? ''), timestamp: Date.parse(parsed.timestamp) }];
  }
}
