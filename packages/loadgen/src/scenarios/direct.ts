import { type BenchContext, remainingMs } from '../context.js';
import { BenchFailure } from '../failure.js';
import { Histogram } from '../histogram.js';
import { urlFor } from '../ipc.js';
import { nowUs, withTimeout } from '../proc.js';
import { mintToken } from '../token.js';
import { ReplyFailure, WireConnection, type WireOptions } from '../wire.js';

/**
 * Clients of the collaboration scenarios (comments, locks), driven from the bench process
 * itself over raw protocol v1 connections: each its own user of the bench tenant.
 */
export interface DirectClient {
  i: number;
  user: string;
  conn: WireConnection;
}

export interface OpenOutcome {
  clients: DirectClient[];
  requested: number;
  ok: number;
  failed: number;
  perSecond: number;
  errors: string[];
  latency: Histogram;
}

export interface OpenPlan {
  count: number;
  /** User of client i (its token's `sub`). */
  user: (i: number) => string;
  caps: Record<string, string[]>;
  /** Channel each client subscribes to once connected. */
  subscribe?: string;
  /** Wire options of client i (push handlers). */
  wire?: (i: number) => WireOptions;
  /** Handshakes in flight. */
  concurrency?: number;
  /** URL client i connects to (default: its node's, round-robin over the nodes). */
  url?: (i: number) => string;
}

/** Open `count` clients, `concurrency` handshakes at a time, each connected (and subscribed) or counted failed. */
export async function openDirect(ctx: BenchContext, plan: OpenPlan): Promise<OpenOutcome> {
  const { target } = ctx;
  const clients: DirectClient[] = [];
  const errors: string[] = [];
  const latency = new Histogram();
  let failed = 0;
  let next = 0;
  const startUs = nowUs();
  const timeoutMs = Math.min(30_000, remainingMs(ctx));
  const one = async (i: number): Promise<void> => {
    const user = plan.user(i);
    const t0 = nowUs();
    const conn = new WireConnection(plan.url?.(i) ?? urlFor(target, i), plan.wire?.(i) ?? {});
    try {
      const token = await mintToken(target.secret, { sub: user, tenant: target.tenant, caps: plan.caps, ttlSeconds: target.tokenTtlSeconds });
      await withTimeout(conn.opened, timeoutMs, 'open');
      await withTimeout(conn.call('connect', { token, name: 'switchboard-bench' }), timeoutMs, 'connect');
      if (plan.subscribe) await withTimeout(conn.call('subscribe', { channel: plan.subscribe }), timeoutMs, 'subscribe');
      latency.record(nowUs() - t0);
      clients.push({ i, user, conn });
    } catch (err) {
      failed++;
      conn.terminate();
      if (errors.length < 5) errors.push(err instanceof ReplyFailure ? `${err.reply.code} ${err.reply.message}` : (err as Error).message);
    }
  };
  const lane = async (): Promise<void> => {
    while (next < plan.count && nowUs() < ctx.deadlineUs) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(plan.concurrency ?? 64, plan.count) }, lane));
  clients.sort((a, b) => a.i - b.i);
  const seconds = Math.max(1e-3, (nowUs() - startUs) / 1e6);
  return { clients, requested: plan.count, ok: clients.length, failed, perSecond: clients.length / seconds, errors, latency };
}

/** Close every client with a close frame (at most `graceMs` each, all at once). */
export async function closeDirect(clients: readonly DirectClient[], graceMs = 2000): Promise<void> {
  await Promise.all(clients.map((c) => c.conn.close(graceMs)));
}

/** The backend's calls to the HTTP API of the bench's server (admin API key, bench tenant). */
export function backendApi(ctx: BenchContext): (method: string, path: string, body?: unknown) => Promise<{ status: number; body: unknown }> {
  const key = ctx.server.apiKey;
  if (!key) throw new BenchFailure('this scenario needs an API key (--api-key) for a server started elsewhere');
  const headers = { authorization: `Bearer ${key}`, 'x-switchboard-tenant': ctx.target.tenant, 'content-type': 'application/json' };
  return async (method, path, body) => {
    const res = await fetch(`${ctx.server.httpUrl}/api/v1${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed };
  };
}

/** A ReplyFailure's code, or the error's first words. */
export function errorKey(err: unknown): string {
  return err instanceof ReplyFailure ? String(err.reply.code) : err instanceof Error ? err.message.slice(0, 60) : 'failed';
}
