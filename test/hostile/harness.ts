import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { dropPrefix } from '../cluster/drop-prefix.js';
import { ALL_ACTIONS, startTestServer, type TestServer } from '../helpers/server.js';
import { startWorkersServer } from '../helpers/workers-server.js';
import { WireClient, type WireClientOptions } from './wire.js';

/**
 * The frame of every hostile test file: a real server, tenant B ('other') seeded with
 * canary strings in publications, history, presence state and signals, a bystander of
 * tenant B that must keep receiving its messages, and recorders that fail the run on an
 * uncaught exception, an unhandled rejection or one canary byte seen by anyone but tenant B.
 * Each test file runs in its own process (vitest forks), so every file gets its own recorders.
 */

export const TENANT_A = 'acme';
export const TENANT_B = 'other';
/** Planted only in tenant B's data; no other client may ever receive it. */
export const CANARY = 'CANARY-b7e1f0-tenant-other';
/** Channel names tenant B uses (and tenant A's clients try). */
export const B_CHANNELS = ['project:1', 'project:shared', 'chat:lobby', 'project:__proto__', 'system', 'user:bob'] as const;
const B_PRESENCE = ['project:1', 'project:shared', 'chat:lobby'];

/** Uncaught exceptions and unhandled rejections seen by this process (the server is in-process). */
export const processErrors: unknown[] = [];
process.on('uncaughtException', (err) => processErrors.push(err));
process.on('unhandledRejection', (err) => processErrors.push(err));

/** Messages received by clients other than tenant B's that contained the canary. */
export const leaks: string[] = [];
/** How many messages the scanner looked at (so a scan that saw nothing is visible). */
export const scanned = { messages: 0, bytes: 0 };
WireClient.taps.add((client, message) => {
  if (client.label === TENANT_B) return;
  scanned.messages++;
  scanned.bytes += message.data.length;
  if (message.data.includes(CANARY)) leaks.push(`${client.label || 'anonymous'} got: ${message.data.toString('utf8').slice(0, 300)}`);
});

export interface ConnectOptions {
  tenant?: string;
  caps?: Record<string, string[]>;
  ttlSeconds?: number;
  localAddress?: string;
}

export interface Hostile {
  s: TestServer;
  port: number;
  /** Tenant B's bystander (user bob): subscribed to every B channel, present with canary state. */
  bystander: WireClient;
  /** Open a raw socket and send the upgrade request (or `request` verbatim). Closed after the file. */
  open(options?: Partial<WireClientOptions>, request?: string | Buffer): Promise<WireClient>;
  /** Upgrade, then `connect` with a token for `sub`; throws unless connect succeeds. */
  connect(sub: string, options?: ConnectOptions): Promise<WireClient>;
  token(sub: string, options?: ConnectOptions): Promise<string>;
  /** Publish from the app backend (HTTP API) with the tenant's API key. */
  publish(tenant: string, channel: string, data: unknown): Promise<Response>;
  /** The server answers /healthz, the bystander gets a fresh publication, nothing leaked or crashed. */
  expectHealthy(): Promise<void>;
}

type Overrides = Parameters<typeof startTestServer>[0];

/** Start a server for this describe block; check health after every test and everything at the end. */
export function hostileServer(overrides: Overrides = {}): () => Hostile {
  let ctx: Hostile | undefined;
  const clients = new Set<WireClient>();
  beforeAll(async () => {
    ctx = await startHostile(withDefaults(overrides), clients);
  });
  afterEach(async () => {
    await ctx?.expectHealthy();
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await ctx?.s.close();
    const { redis, redisPrefix } = process.env['HOSTILE_WORKERS'] ? {} : (ctx?.s.server.config ?? {});
    // Leave nothing of a Redis-engine run behind in the shared Redis.
    if (redis) await dropPrefix(redis, redisPrefix as string);
    expect(processErrors).toEqual([]);
    expect(leaks).toEqual([]);
  });
  return () => {
    if (!ctx) throw new Error('hostile server not started');
    return ctx;
  };
}

/**
 * Hostile tests open many sockets from 127.0.0.1: the per-IP rate is raised unless a test sets it.
 * HOSTILE_REDIS=redis://… re-runs every suite on the Redis engine (a key prefix of its own per server).
 */
function withDefaults(o: Overrides): Overrides {
  const input = o ?? {};
  const limits = { newConnectionsPerIpPerSecond: 100_000, ...(input.limits ?? {}) };
  const redisUrl = process.env['HOSTILE_REDIS'];
  const redis = redisUrl && !input.redis ? { redis: redisUrl, redisPrefix: `sbhostile-${randomBytes(4).toString('hex')}` } : {};
  return { ...input, ...redis, limits };
}

/**
 * HOSTILE_WORKERS=N runs a suite against `serve --workers N` (real processes; the server's
 * internals are out of reach, so only the suites that talk to it over sockets and HTTP:
 * commands, framing, tenancy, fallback). A worker that crashed fails the health check.
 */
type Mint = (sub: string, o?: ConnectOptions) => Promise<string>;

async function startServer(overrides: Overrides): Promise<{ s: TestServer; token: Mint; crashed(): string | null }> {
  const workers = Number(process.env['HOSTILE_WORKERS'] ?? 0);
  const caps = (o: ConnectOptions) => o.caps ?? { 'project:*': ALL_ACTIONS, 'chat:*': ALL_ACTIONS };
  if (workers < 2) {
    const s = await startTestServer(overrides);
    // Tokens carry the configured audience and issuer, so suites that require them still connect.
    const { audience, issuer } = s.server.config.auth;
    const token: Mint = (sub, o = {}) =>
      s.server.mintToken({
        sub,
        tenant: o.tenant ?? TENANT_A,
        caps: caps(o) as never,
        ttlSeconds: o.ttlSeconds ?? 3600,
        ...(audience ? { aud: audience } : {}),
        ...(issuer ? { iss: issuer } : {}),
      });
    return { s, token, crashed: () => null };
  }
  const { features, keepDataDir, now, ...config } = overrides ?? {};
  if (features || keepDataDir || now) throw new Error('HOSTILE_WORKERS: this suite needs the server in-process');
  const w = await startWorkersServer({ workers, config: config as Record<string, unknown> });
  const s = {
    url: w.url,
    httpUrl: w.httpUrl,
    port: w.port,
    apiKey: w.apiKey,
    tenantKeys: w.tenantKeys,
    dataDir: w.dataDir,
    token: (c) => w.token(c),
    async close() {
      await w.stop();
      w.kill();
    },
    get server(): never {
      throw new Error('HOSTILE_WORKERS: the server runs in other processes');
    },
  } satisfies Omit<TestServer, 'server'> & { readonly server: never };
  // The helper's tokens carry the config's audience and issuer.
  const token: Mint = (sub, o = {}) => w.token({ sub, tenant: o.tenant ?? TENANT_A, caps: caps(o), ttlSeconds: o.ttlSeconds ?? 3600 });
  return { s: s as unknown as TestServer, token, crashed: () => /worker \d+ exited[^\n]*/.exec(w.output())?.[0] ?? null };
}

async function startHostile(overrides: Overrides, clients: Set<WireClient>): Promise<Hostile> {
  const { s, token, crashed } = await startServer(overrides);
  let healthSeq = 0;

  const open = async (options: Partial<WireClientOptions> = {}, request?: string | Buffer) => {
    const c = await WireClient.open({ port: s.port, ...options }, request);
    clients.add(c);
    return c;
  };

  const connect = async (sub: string, o: ConnectOptions = {}) => {
    const tenant = o.tenant ?? TENANT_A;
    const c = await open({ label: tenant, answerPings: true, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
    if (!c.upgraded) throw new Error(`upgrade refused: HTTP ${c.response?.status}`);
    const reply = await c.call('connect', { token: await token(sub, o) });
    if (!reply['result']) throw new Error(`connect refused: ${JSON.stringify(reply)}`);
    return c;
  };

  const publish = (tenant: string, channel: string, data: unknown) =>
    fetch(`${s.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenantKeys[tenant]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel, data }),
      signal: AbortSignal.timeout(5000),
    });

  // Tenant B: two users in the same channels, canaries everywhere they can be read from.
  const bCaps = { 'project:*': ALL_ACTIONS, 'chat:*': ALL_ACTIONS };
  const bystander = await connect('bob', { tenant: TENANT_B, caps: bCaps });
  const carol = await connect('carol', { tenant: TENANT_B, caps: bCaps });
  for (const c of [bystander, carol]) {
    for (const channel of B_CHANNELS) {
      if (channel === 'user:bob' && c === carol) continue;
      const r = await c.call('subscribe', { channel });
      expect(r['error'], `B subscribe ${channel}`).toBeUndefined();
    }
    for (const channel of B_PRESENCE) {
      const r = await c.call('presence_set', { channel, state: { canary: CANARY, who: c === carol ? 'carol' : 'bob' } });
      expect(r['error'], `B presence ${channel}`).toBeUndefined();
    }
  }
  for (const channel of B_CHANNELS) {
    const res = await publish(TENANT_B, channel, { canary: CANARY, seeded: channel });
    expect(res.status, `seed ${channel}`).toBe(200);
  }
  const pub = await carol.call('publish', { channel: 'project:1', data: { canary: CANARY, from: 'carol' } });
  expect(pub['error']).toBeUndefined();
  const sig = await carol.call('signal', { channel: 'project:1', key: 'typing', data: { canary: CANARY } });
  expect(sig['error']).toBeUndefined();
  await bystander.waitJson((f) => f['push'] === 'signal');

  const expectHealthy = async () => {
    const health = await fetch(`${s.httpUrl}/healthz`, { signal: AbortSignal.timeout(5000) });
    expect(health.status, 'GET /healthz').toBe(200);
    const n = ++healthSeq;
    const res = await publish(TENANT_B, 'project:1', { canary: CANARY, health: n });
    expect(res.status, 'bystander publish').toBe(200);
    await bystander.waitJson((f) => f['push'] === 'pub' && f['channel'] === 'project:1' && (f['data'] as { health?: number })?.health === n, 5000);
    expect(bystander.close, 'bystander still open').toBeNull();
    expect(processErrors).toEqual([]);
    expect(leaks).toEqual([]);
    expect(crashed(), 'a worker crashed').toBeNull();
  };

  return { s, port: s.port, bystander, open, connect, token, publish, expectHealthy };
}

/** Payload of a reply error, asserting its shape: `{code, message, temporary}`. */
export function replyError(frame: Record<string, unknown>): { code: number; message: string; temporary: boolean } {
  const err = frame['error'] as { code: number; message: string; temporary: boolean } | undefined;
  expect(err, `expected an error reply, got ${JSON.stringify(frame)}`).toBeDefined();
  expect(typeof err?.code).toBe('number');
  expect(typeof err?.message).toBe('string');
  expect(typeof err?.temporary).toBe('boolean');
  return err as { code: number; message: string; temporary: boolean };
}

/** Wait for the server's close frame with `code`, then for the TCP connection to end (we close our side too). */
export async function expectClosed(c: WireClient, code: number | null, timeout = 5000): Promise<void> {
  const close = await c.waitClose(timeout);
  expect(close.code, `close code (reason "${close.reason.toString()}")`).toBe(code);
  c.socket.end();
  await c.waitEnd(timeout);
}
