import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request a receiver got, with what the reference `standardwebhooks` package said of its signature. */
export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** The parsed body when the signature verified with the endpoint's secret; null when it did not. */
  verified: { type: string; timestamp: string; data: Record<string, unknown> } | null;
  status: number;
}

/** What the receiver answers next: a status (with headers), or `hang` (never answers until `release`). */
export type Answer = { status: number; headers?: Record<string, string> } | 'hang';

/**
 * A real webhook receiver (node:http on 127.0.0.1, port 0) that verifies every request with
 * the reference `standardwebhooks` package and answers what the test queued (200 when nothing is).
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  readonly #answers: Answer[] = [];
  readonly #hanging: ServerResponse[] = [];
  #secret = '';
  #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server);
    server.on('request', (req, res) => receiver.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`;
  }

  /** The endpoint's secret (`whsec_…`), to verify signatures with. */
  set secret(secret: string) {
    this.#secret = secret;
  }

  /** Answer the next requests with these, in order; then 200 again. */
  answer(...answers: Answer[]): void {
    this.#answers.push(...answers);
  }

  /** Requests of an event type that verified. */
  events(type?: string): Received[] {
    return this.received.filter((r) => r.verified !== null && (type === undefined || r.verified.type === type));
  }

  /** Answer every hanging request 200. */
  release(): void {
    for (const res of this.#hanging.splice(0)) res.writeHead(200).end();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      };
      let verified: Received['verified'] = null;
      try {
        verified = new Webhook(this.#secret).verify(body, headers) as Received['verified'];
      } catch {
        verified = null;
      }
      const answer = this.#answers.shift() ?? { status: 200 };
      const status = answer === 'hang' ? 0 : answer.status;
      this.received.push({
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signature: headers['webhook-signature'],
        body,
        verified,
        status,
      });
      if (answer === 'hang') {
        this.#hanging.push(res);
        return;
      }
      res.writeHead(answer.status, answer.headers ?? {}).end('ok');
    });
  }

  async close(): Promise<void> {
    this.release();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
