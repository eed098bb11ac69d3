import type { NodeContext, SessionContext } from './context.js';

/** Rate refusals of one connection reach the security door at most this often (ms), with their counts. */
const REPORT_INTERVAL = 1000;

interface Pending {
  counts: Map<string, number>;
  reportedAt: number;
}

/** Refusals counted per connection, not yet reported (a connection that was never refused has none). */
const pending = new WeakMap<SessionContext, Pending>();

/**
 * Count a rate refusal of a connection: a flood costs a counter per frame, and the security
 * door hears the counts at most once a second per connection (and when it closes). Nothing
 * while nobody listens.
 */
export function noteRateRefusal(client: SessionContext, node: NodeContext, limit: string): void {
  if (!node.security.active) return;
  let p = pending.get(client);
  if (!p) {
    p = { counts: new Map(), reportedAt: Number.NEGATIVE_INFINITY };
    pending.set(client, p);
  }
  p.counts.set(limit, (p.counts.get(limit) ?? 0) + 1);
  if (node.now() - p.reportedAt >= REPORT_INTERVAL) report(client, node, p);
}

/** Report what a connection counted since its last report (at close). */
export function reportRateRefusals(client: SessionContext, node: NodeContext): void {
  const p = pending.get(client);
  if (p) report(client, node, p);
}

function report(client: SessionContext, node: NodeContext, p: Pending): void {
  p.reportedAt = node.now();
  const identity = client.identity;
  for (const [limit, count] of p.counts) {
    if (count === 0) continue;
    node.security.report({ type: 'limit.rate', tenant: identity?.tenant ?? null, user: identity?.user ?? null, ip: client.meta.ip, limit, count });
    p.counts.set(limit, 0);
  }
}
