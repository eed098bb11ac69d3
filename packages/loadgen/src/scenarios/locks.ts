import { type ChildProcess, spawn } from 'node:child_process';
import { OpCounter } from '../activities.js';
import { type BenchContext, connectFigures, cpuSnapshot, phaseCpu, remainingMs, type Scenario } from '../context.js';
import { BenchFailure } from '../failure.js';
import { formatInt, formatMs, round } from '../format.js';
import { Histogram } from '../histogram.js';
import { urlFor } from '../ipc.js';
import { nowUs, sleep, withTimeout } from '../proc.js';
import { Report } from '../report.js';
import { mintToken } from '../token.js';
import { ReplyFailure } from '../wire.js';
import { closeDirect, type DirectClient, errorKey, openDirect } from './direct.js';
import { nodeKill } from './locks-node-kill.js';

interface LockInfo {
  key: string;
  holder: { user: string; client?: string };
  fencingToken: number;
}

const LOCKED = 130;

/** The lock's holder named in a 130 Locked answer. */
const holderOf = (err: unknown): string | undefined =>
  err instanceof ReplyFailure ? (err.reply.data as { holder?: { user?: string } } | undefined)?.holder?.user : undefined;

/** Uncontended: each client takes and gives back a key of its own, one pair after the other. */
async function throughput(ctx: BenchContext, report: Report, clients: DirectClient[], channel: string): Promise<void> {
  const durationMs = ctx.args.ms('--duration');
  const acquire = new OpCounter();
  const release = new OpCounter();
  let tokenBackwards = 0;
  ctx.gauge.mark();
  ctx.progress.phase('acquire / release');
  const startUs = nowUs();
  const endUs = startUs + durationMs * 1000;
  await Promise.all(
    clients.map(async (c) => {
      let last = 0;
      while (nowUs() < endUs && nowUs() < ctx.deadlineUs) {
        const lock = (await acquire.track(null, c.conn.command('locks.acquire', { channel, key: `k${c.i}` }))) as LockInfo | undefined;
        if (!lock) {
          await sleep(10);
          continue;
        }
        if (lock.fencingToken <= last) tokenBackwards++;
        last = lock.fencingToken;
        await release.track(null, c.conn.command('locks.release', { channel, key: `k${c.i}` }));
      }
    }),
  );
  const seconds = Math.max(1e-3, (nowUs() - startUs) / 1e6);
  const snap = cpuSnapshot(ctx);
  report.section('Acquire / release, one key per client');
  report.add('throughput.clients', clients.length, 'clients', formatInt(clients.length));
  report.add(
    'throughput.acquired',
    acquire.ok,
    'acquired',
    `${formatInt(acquire.ok)} = ${formatInt(acquire.ok / seconds)} /s${acquire.failed ? `, ${formatInt(acquire.failed)} refused ${JSON.stringify(acquire.errors)}` : ''}`,
  );
  report.add('throughput.acquiresPerSecond', round(acquire.ok / seconds, 1));
  report.add(
    'throughput.released',
    release.ok,
    'released',
    `${formatInt(release.ok)} = ${formatInt(release.ok / seconds)} /s${release.failed ? `, ${formatInt(release.failed)} refused ${JSON.stringify(release.errors)}` : ''}`,
  );
  report.add('throughput.releasesPerSecond', round(release.ok / seconds, 1));
  report.add(
    'throughput.pairsPerSecond',
    round(Math.min(acquire.ok, release.ok) / seconds, 1),
    'acquire + release pairs',
    `${formatInt(Math.min(acquire.ok, release.ok) / seconds)} /s`,
  );
  report.latency('throughput.acquireLatency', 'acquire round trip', acquire.latency);
  report.latency('throughput.releaseLatency', 'release round trip', release.latency);
  report.add('throughput.failed', acquire.failed + release.failed);
  phaseCpu(report, 'throughput', snap, acquire.ok + release.ok, 'acquire or release');
  report.check(
    'every acquire and release answered',
    acquire.failed === 0 && release.failed === 0 && acquire.ok > 0,
    `${acquire.failed + release.failed} refused`,
  );
  report.check('fencing tokens increase per key', tokenBackwards === 0, `${tokenBackwards} not above the key’s previous grant`);
}

interface Contention {
  grants: number;
  doubleHolders: number;
  tokenViolations: number;
  lastToken: number;
}

/** Rounds where every contender asks at once without waiting: one grant, everyone else 130 with that holder. */
async function bursts(ctx: BenchContext, report: Report, contenders: DirectClient[], channel: string, key: string, seen: Contention): Promise<void> {
  const rounds = ctx.args.count('--bursts');
  let oneWinner = 0;
  let wrongHolder = 0;
  let noHolder = 0;
  let otherErrors = 0;
  const errors: Record<string, number> = {};
  const roundTime = new Histogram();
  ctx.progress.phase(`${rounds} rounds of ${contenders.length} at once`);
  for (let r = 0; r < rounds && nowUs() < ctx.deadlineUs; r++) {
    const t0 = nowUs();
    const answers = await Promise.all(
      contenders.map((c) =>
        c.conn.command('locks.acquire', { channel, key }).then(
          (lock) => ({ c, lock: lock as LockInfo, err: undefined as unknown }),
          (err: unknown) => ({ c, lock: undefined, err }),
        ),
      ),
    );
    roundTime.record(nowUs() - t0);
    const winners = answers.filter((a) => a.lock);
    for (const w of winners) {
      if ((w.lock as LockInfo).fencingToken <= seen.lastToken) seen.tokenViolations++;
      seen.lastToken = Math.max(seen.lastToken, (w.lock as LockInfo).fencingToken);
      seen.grants++;
    }
    if (winners.length === 1) oneWinner++;
    else if (winners.length > 1) seen.doubleHolders += winners.length - 1;
    const winner = winners[0]?.c.user;
    for (const a of answers) {
      if (a.lock) continue;
      if (a.err instanceof ReplyFailure && a.err.reply.code === LOCKED) {
        const named = holderOf(a.err);
        if (named === undefined) noHolder++;
        else if (named !== winner) wrongHolder++;
      } else {
        otherErrors++;
        errors[errorKey(a.err)] = (errors[errorKey(a.err)] ?? 0) + 1;
      }
    }
    await Promise.all(winners.map((w) => w.c.conn.command('locks.release', { channel, key }).catch(() => otherErrors++)));
  }
  report.section(`Contention: ${formatInt(contenders.length)} at once, without waiting`);
  report.add('bursts.rounds', rounds, 'rounds', `${rounds}, each answered in ${formatMs(roundTime.summary().p50)} (p50)`);
  report.add('bursts.oneWinner', oneWinner, 'rounds with exactly one grant', `${oneWinner} of ${rounds}`);
  report.add('bursts.wrongHolder', wrongHolder, '130 Locked naming another holder', formatInt(wrongHolder));
  report.add(
    'bursts.noHolder',
    noHolder,
    '130 Locked without a holder',
    `${formatInt(noHolder)} (the winner’s row was not written yet when the refusal read it)`,
  );
  report.add('bursts.otherErrors', otherErrors);
  if (otherErrors) report.add('bursts.errors', errors, 'other answers', JSON.stringify(errors));
  report.latency('bursts.roundLatency', 'round (all answered)', roundTime);
  report.check('exactly one grant in every round', oneWinner === rounds, `${oneWinner} of ${rounds}`);
  report.check('no refusal names another holder', wrongHolder === 0 && otherErrors === 0, `${wrongHolder} another holder, ${otherErrors} other answers`);
}

/** Every contender waits in line for the key (waitMs); each cycle is one grant, held `--hold`, then released. */
async function cycles(ctx: BenchContext, report: Report, contenders: DirectClient[], channel: string, key: string, seen: Contention): Promise<void> {
  const { args } = ctx;
  const target = args.count('--cycles');
  const holdMs = args.ms('--hold');
  const waitMs = args.ms('--wait');
  let holder: DirectClient | null = null;
  let stop = false;
  let timeouts = 0;
  let errorCount = 0;
  const errors: Record<string, number> = {};
  let releasedAtUs = 0;
  const handoff = new Histogram();
  const release = new OpCounter();
  const startGrants = seen.grants;
  // When each waiting contender asked (µs), for grants out of the order of asking.
  const askedAt = new Map<DirectClient, number>();
  const asked = new Set<DirectClient>();
  const order = { grants: 0, outOfOrder: 0, maxLeadUs: 0 };
  ctx.gauge.mark();
  ctx.progress.phase(`${formatInt(target)} cycles, ${formatInt(contenders.length)} waiting`);
  const startUs = nowUs();
  const loop = async (c: DirectClient): Promise<void> => {
    while (!stop && nowUs() < ctx.deadlineUs) {
      let lock: LockInfo;
      // The first asks go all at once, in no order the server could see: only later asks count.
      const counted = asked.has(c);
      asked.add(c);
      askedAt.set(c, nowUs());
      try {
        lock = (await c.conn.command('locks.acquire', { channel, key, waitMs })) as LockInfo;
      } catch (err) {
        if (stop) return;
        if (err instanceof ReplyFailure && err.reply.code === LOCKED) {
          timeouts++;
          continue;
        }
        errorCount++;
        errors[errorKey(err)] = (errors[errorKey(err)] ?? 0) + 1;
        await sleep(50);
        continue;
      }
      const t = nowUs();
      const mine = askedAt.get(c) ?? t;
      askedAt.delete(c);
      if (counted) {
        order.grants++;
        let earliest = mine;
        for (const other of askedAt.values()) if (other < earliest) earliest = other;
        if (earliest < mine) {
          order.outOfOrder++;
          order.maxLeadUs = Math.max(order.maxLeadUs, mine - earliest);
        }
      }
      if (holder !== null) seen.doubleHolders++;
      holder = c;
      if (lock.fencingToken <= seen.lastToken) seen.tokenViolations++;
      seen.lastToken = Math.max(seen.lastToken, lock.fencingToken);
      seen.grants++;
      if (releasedAtUs > 0) handoff.record(t - releasedAtUs);
      if (seen.grants - startGrants >= target) stop = true;
      if (holdMs > 0) await sleep(holdMs);
      holder = null;
      releasedAtUs = nowUs();
      // Once the cycles are done the connections close: a release cut off by that is no failure.
      if (stop) await c.conn.command('locks.release', { channel, key }).catch(() => {});
      else await release.track(null, c.conn.command('locks.release', { channel, key }));
    }
  };
  const loops = contenders.map(loop);
  const stopped = nowUs() + remainingMs(ctx) * 1000;
  while (!stop && nowUs() < stopped) await sleep(20);
  stop = true;
  const seconds = Math.max(1e-3, (nowUs() - startUs) / 1e6);
  const cycled = seen.grants - startGrants;
  const snap = cpuSnapshot(ctx);
  // The waits still queued end with their connections (a close frame: nothing is held past it).
  for (let j = 0; j < 100 && holder !== null; j++) await sleep(20);
  await closeDirect(contenders);
  await withTimeout(Promise.all(loops), 15_000, 'the contenders to stop').catch(() => {});

  report.section(`Contention: ${formatInt(contenders.length)} waiting on one key`);
  report.add(
    'cycles.grants',
    cycled,
    'cycles (grants)',
    `${formatInt(cycled)} = ${formatInt(cycled / seconds)} /s (hold ${formatMs(holdMs)}, waitMs ${formatInt(waitMs)})`,
  );
  report.add('cycles.perSecond', round(cycled / seconds, 1));
  report.latency('cycles.handoff', 'release → next grant', handoff);
  report.latency('cycles.releaseLatency', 'release round trip', release.latency);
  report.add('cycles.waitTimeouts', timeouts, 'waits that ran out (130, asked again)', formatInt(timeouts));
  report.add(
    'cycles.order',
    { grants: order.grants, outOfOrder: order.outOfOrder, maxLeadMs: round(order.maxLeadUs / 1000, 2) },
    'grants while one who asked earlier waited',
    `${formatInt(order.outOfOrder)} of ${formatInt(order.grants)} (the earlier ask at most ${formatMs(order.maxLeadUs / 1000)} before; first asks not counted)`,
  );
  report.add('cycles.errors', errors);
  report.add('cycles.releaseErrors', release.errors);
  if (errorCount) report.add('cycles.errorCount', errorCount, 'other failures', JSON.stringify(errors));
  phaseCpu(report, 'cycles', snap, cycled, 'cycle (grant + release)');
  report.check(`${formatInt(target)} cycles completed`, cycled >= target, `${formatInt(cycled)} grants`);
  report.check(
    'no other failures while waiting',
    errorCount === 0 && release.failed === 0,
    `${errorCount} acquires ${JSON.stringify(errors)}, ${release.failed} releases ${JSON.stringify(release.errors)}`,
  );
}

/** Holders in processes of their own, killed with SIGKILL while a waiter waits: the time until the waiter gets the key. */
async function drops(ctx: BenchContext, report: Report, waiters: DirectClient[], channel: string): Promise<void> {
  const { target } = ctx;
  const n = waiters.length;
  const graceMs = ctx.args.ms('--grace');
  const children: ChildProcess[] = [];
  const release = new Histogram();
  let notGranted = 0;
  const problems: string[] = [];
  ctx.progress.phase(`killing ${n} holders`);
  try {
    const held = await Promise.all(
      waiters.map(async (_w, j) => {
        const token = await mintToken(target.secret, {
          sub: `lh${j}`,
          tenant: target.tenant,
          caps: { [channel]: ['subscribe', 'lock'] },
          ttlSeconds: target.tokenTtlSeconds,
        });
        const child = spawn(process.execPath, [new URL('../lock-holder.js', import.meta.url).pathname], {
          // With several nodes the holder is on the node after its waiter's.
          env: { PATH: process.env['PATH'] ?? '', SB_URL: urlFor(target, j + 1), SB_TOKEN: token, SB_CHANNEL: channel, SB_KEY: `drop-${j}` },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        children.push(child);
        const line = await withTimeout(
          new Promise<string>((resolve) => {
            let out = '';
            child.stdout?.on('data', (d: Buffer) => {
              out += d.toString();
              if (out.includes('\n')) resolve(out.trim());
            });
            child.once('exit', (code) => resolve(`exited ${code}`));
          }),
          30_000,
          'lock holder',
        );
        return line.startsWith('held ');
      }),
    );
    if (!held.every(Boolean)) throw new BenchFailure('a lock-holder process could not take its key');
    const granted = waiters.map((w, j) =>
      w.conn.command('locks.acquire', { channel, key: `drop-${j}`, waitMs: Math.min(30_000, graceMs + 20_000) }).then(
        () => nowUs(),
        (err: unknown) => {
          problems.push(errorKey(err));
          return null;
        },
      ),
    );
    await sleep(500); // every waiter in line before the kill
    const killedUs = nowUs();
    for (const child of children) child.kill('SIGKILL');
    for (const at of await Promise.all(granted)) {
      if (at === null) notGranted++;
      else release.record(at - killedUs);
    }
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  report.section('Release after a kill -9 of the holder’s process');
  const s = report.latency('drops.releaseTime', `kill → waiter granted (${n})`, release);
  report.add('drops.grace', graceMs, 'grace of the server', formatMs(graceMs));
  report.add('drops.notGranted', notGranted);
  report.check('every waiter got the key of its killed holder', notGranted === 0, `${notGranted} of ${n} not granted ${problems.join(', ')}`);
  report.target('released within grace + 1 s after a kill -9', s.count > 0 && s.max <= graceMs + 1000, `max ${formatMs(s.max)} (grace ${formatMs(graceMs)})`);
}

/**
 * The lock service under load, every client in the bench process: uncontended acquire /
 * release pairs; contenders on one key, all at once and then waiting in line cycle after
 * cycle, with every grant checked (one holder at a time as observed, fencing tokens strictly
 * increasing); holders killed with SIGKILL, timed until a waiter gets their key.
 */
export const locksScenario: Scenario = {
  name: 'locks',
  summary:
    'acquire/release per second and p99; N contenders on one key over K cycles (one holder, rising fencing tokens); release after kill -9 (of the holder’s node too with --nodes)',
  options: [
    { flag: '--clients', kind: 'count', default: '100', help: 'clients of the uncontended phase, each on a key of its own' },
    { flag: '--duration', kind: 'duration', default: '10s', min: 100, help: 'uncontended phase' },
    { flag: '--contenders', kind: 'count', default: '1000', help: 'connections contending for one key' },
    { flag: '--bursts', kind: 'count', min: 0, default: '10', help: 'rounds where every contender asks at once without waiting' },
    { flag: '--cycles', kind: 'count', min: 0, default: '10000', help: 'grants of the key while every contender waits in line (waitMs)' },
    { flag: '--hold', kind: 'duration', default: '0ms', help: 'how long each winner holds the key' },
    { flag: '--wait', kind: 'duration', default: '30s', min: 1, help: 'waitMs of each acquire in line (the server allows at most 30 s)' },
    {
      flag: '--drops',
      kind: 'count',
      min: 0,
      default: '5',
      help: 'holders in processes of their own killed with SIGKILL (0: none); with --nodes, as many again on a node killed with SIGKILL',
    },
    {
      flag: '--grace',
      kind: 'duration',
      default: '3s',
      help: 'the server’s locks.grace, for the release-time target (the started server keeps its default, 3 s)',
    },
    {
      flag: '--presence-ttl',
      kind: 'duration',
      default: '15s',
      help: 'the servers’ timeouts.presenceTtl, for the target of the node kill with --nodes (the started servers keep their default, 15 s)',
    },
  ],
  connections: (a) => a.count('--clients') + a.count('--contenders') + a.count('--drops') * (a.count('--nodes') > 1 ? 4 : 2),
  estimateMs: (a) =>
    120_000 +
    (a.count('--clients') + a.count('--contenders')) * 20 +
    a.ms('--duration') * 2 +
    a.count('--cycles') * 20 +
    a.count('--bursts') * 3000 +
    (a.count('--nodes') > 1 ? a.ms('--presence-ttl') + 30_000 : 0),

  async run(ctx) {
    const { args, target } = ctx;
    const report = new Report('locks', args.toJSON());
    const ns = target.namespace;
    const caps = { [`${ns}:*`]: ['subscribe', 'lock'] };
    const seen: Contention = { grants: 0, doubleHolders: 0, tokenViolations: 0, lastToken: 0 };

    ctx.progress.phase('connecting clients');
    const free = await openDirect(ctx, { count: args.count('--clients'), user: (i) => `lk${i}`, caps });
    report.section('Load');
    connectFigures(report, 'connect', free);
    report.check('every client connected', free.ok === free.requested, `${formatInt(free.ok)} of ${formatInt(free.requested)}`);
    try {
      if (free.ok > 0) await throughput(ctx, report, free.clients, `${ns}:bench-locks`);
    } finally {
      await closeDirect(free.clients);
    }

    const contendersN = args.count('--contenders');
    ctx.progress.phase('connecting contenders');
    const contenders = await openDirect(ctx, { count: contendersN, user: (i) => `lc${i}`, caps });
    report.add('contenders', contenders.ok, 'contenders connected', `${formatInt(contenders.ok)} of ${formatInt(contendersN)}`);
    report.check('every contender connected', contenders.ok === contendersN, `${formatInt(contenders.ok)} of ${formatInt(contendersN)}`);
    const hot = `${ns}:bench-lock-hot`;
    try {
      if (args.count('--bursts') > 0) await bursts(ctx, report, contenders.clients, hot, 'hot', seen);
      if (args.count('--cycles') > 0) await cycles(ctx, report, contenders.clients, hot, 'hot', seen);
    } finally {
      await closeDirect(contenders.clients);
    }
    report.add('contention.grants', seen.grants);
    report.add('contention.doubleHolders', seen.doubleHolders, 'double holders observed', formatInt(seen.doubleHolders));
    report.add('contention.tokenViolations', seen.tokenViolations, 'fencing tokens not rising', formatInt(seen.tokenViolations));
    report.check('0 double holders', seen.doubleHolders === 0, `${seen.doubleHolders} grants while another contender held the key`);
    report.check(
      'fencing tokens strictly increasing',
      seen.tokenViolations === 0,
      `${seen.tokenViolations} of ${formatInt(seen.grants)} grants not above the previous one`,
    );

    const dropsN = args.count('--drops');
    if (dropsN > 0) {
      const waiters = await openDirect(ctx, { count: dropsN, user: (i) => `lw${i}`, caps });
      try {
        if (waiters.ok < dropsN) throw new BenchFailure(`only ${waiters.ok} of ${dropsN} waiters connected: ${waiters.errors.join('; ')}`);
        await drops(ctx, report, waiters.clients, `${ns}:bench-lock-drops`);
      } finally {
        await closeDirect(waiters.clients);
      }
      // Last: the killed node serves no one after it.
      await nodeKill(ctx, report, dropsN, `${ns}:bench-lock-node-drops`, caps);
    }
    report.note(
      'Every client but the killed holders runs in the bench process (no worker processes); a double holder is a grant received while another contender had received the key and not yet sent its release.',
    );
    if (ctx.server.nodes.length > 1)
      report.note(
        `Clients and contenders round-robin over the ${ctx.server.nodes.length} nodes; each killed holder process is on the node after its waiter's; the node killed last (never node 0) held only the node-kill phase's locks.`,
      );
    return report;
  },
};
