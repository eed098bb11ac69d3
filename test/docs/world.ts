import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwitchboardClient } from '@switchboard/client';
import WebSocket from 'ws';
import { eventually } from '../helpers/eventually.js';
import { DEFAULT_CAPS, startTestServer, type TestServer } from '../helpers/server.js';
import { ROOT } from './markdown.js';
import type { Values } from './substitutions.js';

/**
 * The server every block talks to, and what the docs' examples take for granted: in tenant
 * acme, user alice is online in project:42 (the presence and channel-list examples show her)
 * and project:42 has a few publications (the history examples page through them). Snippets
 * run as alice of tenant `docs`, so what they publish never shows in acme's examples, and
 * her inbox holds an unread notification (the inbox example marks the first one read).
 * The metric series of docs/metrics.md's SDK examples are declared, and alice may ingest
 * into `metrics:web.*`.
 */

export const SNIPPET_TENANT = 'docs';
/** The series docs/metrics.md declares in its configuration example. */
export const METRIC_SERIES = {
  'api.latency_ms': { kind: 'distribution', unit: 'ms', labels: ['route', 'platform'] },
  'jobs.done': { kind: 'counter', labels: ['queue'] },
  'queue.depth': { kind: 'gauge', retention: { '1s': '2m' } },
};
/** What the snippets' token grants: the test servers' default, reading every metric series, and pushing points into web.*. */
export const SNIPPET_CAPS = { ...DEFAULT_CAPS, 'metrics:*': ['subscribe'], 'metrics:web.*': ['ingest'] };

/** The series docs/metrics.md's push examples use (web.lcp_ms is declared over HTTP there). */
const DOC_SERIES = {
  'web.inp_ms': { kind: 'distribution', unit: 'ms', labels: ['page'] },
  'web.fps': { kind: 'gauge' },
};

export class World {
  readonly runId = randomBytes(4).toString('hex');
  readonly secret = randomBytes(36).toString('base64url');
  #alice: SwitchboardClient | null = null;
  #scratches: string[] = [];

  private constructor(
    readonly server: TestServer,
    readonly snippetToken: string,
  ) {}

  static async start(): Promise<World> {
    const server = await startTestServer({ metrics: { series: { ...METRIC_SERIES, ...DOC_SERIES } } });
    const token = await server.token({ sub: 'alice', tenant: SNIPPET_TENANT, caps: SNIPPET_CAPS });
    const world = new World(server, token);
    for (let i = 0; i < 4; i++) await world.api('POST', '/publish', { tenant: 'acme', body: { channel: 'project:42', data: { n: i } } });
    await world.api('POST', '/notifications', { tenant: SNIPPET_TENANT, body: { user: 'alice', type: 'mention', title: 'Ann mentioned you' } });
    return world;
  }

  /** The server's HMAC secret (development mode wrote it to the data directory). */
  get serverSecret(): string {
    return readFileSync(join(this.server.dataDir, 'secret'), 'utf8').trim();
  }

  /** A call of the HTTP API with the admin key. */
  async api(method: string, path: string, opts: { tenant: string; body?: unknown }): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${this.server.httpUrl}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.server.apiKey}`,
        'x-switchboard-tenant': opts.tenant,
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status >= 400) throw new Error(`${method} ${path} (tenant ${opts.tenant}): ${res.status} ${JSON.stringify(body)}`);
    return { status: res.status, body };
  }

  /** Alice of acme online in project:42, as the examples show her (reconnected if an example disconnected her). */
  async aliceOnline(): Promise<void> {
    if (!this.#alice) {
      const token = await this.server.token({ sub: 'alice', tenant: 'acme' });
      this.#alice = new SwitchboardClient(this.server.url, { token, WebSocket: WebSocket as never, name: 'docs-world' });
    }
    const alice = this.#alice;
    if (alice.state === 'disconnected') alice.connect();
    // An example that unsubscribed her ended the subscription; the SDK re-enters presence on every resubscribe.
    if (!alice.getSubscription('project:42'))
      void alice
        .subscribe('project:42')
        .enterPresence({ page: 'x' })
        .catch(() => {});
    await eventually(
      async () => {
        const { body } = await this.api('GET', '/channels/project:42/presence', { tenant: 'acme' });
        return (body['members'] as Array<{ user: string }>).some((m) => m.user === 'alice');
      },
      // A bound, not a figure: reconnecting, resubscribing and re-entering presence take
      // several seconds when the machine is loaded (it once took more than 5 s in a full run).
      30_000,
      'alice in the presence of project:42',
    );
  }

  /**
   * Epoch of acme's project:42 now, with the publications the history examples page through:
   * a long docs run (on a busy machine) can outlast the namespace's 5-minute history TTL.
   */
  async acmeEpoch(): Promise<string> {
    const held = await this.api('GET', '/channels/project:42/history?limit=4', { tenant: 'acme' });
    if ((held.body['publications'] as unknown[]).length < 4)
      for (let i = 0; i < 4; i++) await this.api('POST', '/publish', { tenant: 'acme', body: { channel: 'project:42', data: { n: i } } });
    const { body } = await this.api('GET', '/channels/project:42/history?limit=0', { tenant: 'acme' });
    return body['epoch'] as string;
  }

  /** A fresh working directory for one block, removed at close. */
  scratch(): string {
    const dir = mkdtempSync(join(tmpdir(), 'sb-docs-'));
    this.#scratches.push(dir);
    return dir;
  }

  values(scratch: string, extra: Partial<Values> = {}): Values {
    return {
      httpUrl: this.server.httpUrl,
      wsUrl: this.server.url,
      adminKey: this.server.apiKey,
      acmeKey: this.server.tenantKeys['acme'] as string,
      token: this.snippetToken,
      secret: this.secret,
      scratch,
      root: ROOT,
      ...extra,
    };
  }

  async close(): Promise<void> {
    this.#alice?.disconnect();
    await this.server.close();
    for (const dir of this.#scratches) rmSync(dir, { recursive: true, force: true });
  }
}
