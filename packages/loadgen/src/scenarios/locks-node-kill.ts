import type { BenchContext } from '../context.js';
import { BenchFailure } from '../failure.js';
import { formatMs } from '../format.js';
import { Histogram } from '../histogram.js';
import { nowUs, sleep } from '../proc.js';
import type { Report } from '../report.js';
import { closeDirect, errorKey, openDirect } from './direct.js';

/**
 * With several nodes: `count` holders connected to the last node (never node 0) each take a
 * key, a waiter on another node asks for each with waitMs, the holders' node gets SIGKILL,
 * and the bench times kill → waiter granted. A survivor releases a dead node's locks once
 * it sees the node's heartbeat lapse: within the presence TTL (docs/locks.md).
 */
export async function nodeKill(ctx: BenchContext, report: Report, count: number, channel: string, caps: Record<string, string[]>): Promise<void> {
  const nodes = ctx.server.nodes;
  const victim = nodes[nodes.length - 1];
  if (nodes.length < 2 || !victim) return;
  const survivors = nodes.slice(0, -1);
  const ttlMs = ctx.args.ms('--presence-ttl');
  const release = new Histogram();
  const problems: string[] = [];
  let notGranted = 0;
  let tokenNotAbove = 0;
  ctx.progress.phase(`killing the node of ${count} holders`);
  const holders = await openDirect(ctx, { count, user: (i) => `ln${i}`, caps, url: () => victim.url });
  const waiters = await openDirect(ctx, {
    count,
    user: (i) => `lnw${i}`,
    caps,
    url: (i) => survivors[i % survivors.length]?.url ?? ctx.target.url,
  });
  try {
    if (holders.ok < count || waiters.ok < count)
      throw new BenchFailure(
        `only ${holders.ok} holders and ${waiters.ok} waiters of ${count} connected: ${[...holders.errors, ...waiters.errors].join('; ')}`,
      );
    const held = await Promise.all(
      holders.clients.map(async (h) => (await h.conn.command('locks.acquire', { channel, key: `node-drop-${h.i}` })) as { fencingToken: number }),
    );
    const granted = waiters.clients.map((w) =>
      w.conn.command('locks.acquire', { channel, key: `node-drop-${w.i}`, waitMs: 30_000 }).then(
        (lock) => ({ at: nowUs(), token: (lock as { fencingToken: number }).fencingToken }),
        (err: unknown) => {
          problems.push(errorKey(err));
          return null;
        },
      ),
    );
    await sleep(500); // every waiter in line before the kill
    const killedUs = nowUs();
    await victim.kill();
    const outcomes = await Promise.all(granted);
    outcomes.forEach((o, j) => {
      if (o === null) {
        notGranted++;
        return;
      }
      release.record(o.at - killedUs);
      if (o.token <= (held[j]?.fencingToken ?? Number.POSITIVE_INFINITY)) tokenNotAbove++;
    });
  } finally {
    await closeDirect([...holders.clients, ...waiters.clients], 500);
  }
  report.section('Release after a kill -9 of the holder’s node');
  report.add(
    'nodeDrops.killedNode',
    nodes.length - 1,
    'node killed',
    `node ${nodes.length - 1} of ${nodes.length} (pid ${victim.pid}), ${count} holder${count === 1 ? '' : 's'} on it`,
  );
  const s = report.latency('nodeDrops.releaseTime', `kill → waiter on another node granted (${count})`, release);
  report.add('nodeDrops.presenceTtl', ttlMs, 'presence TTL of the servers', formatMs(ttlMs));
  report.add('nodeDrops.notGranted', notGranted);
  report.add('nodeDrops.tokenNotAbove', tokenNotAbove);
  report.check('every waiter got the key held on the killed node', notGranted === 0, `${notGranted} of ${count} not granted ${problems.join(', ')}`);
  report.check('fencing token above the dead holder’s', tokenNotAbove === 0, `${tokenNotAbove} of ${count} not above`);
  report.target(
    'released within the presence TTL after a kill -9 of its node',
    s.count > 0 && s.max <= ttlMs,
    `max ${formatMs(s.max)} (presence TTL ${formatMs(ttlMs)})`,
  );
}
