import { decodeServerMessage } from '@switchboard/protocol';
import { OpCounter, paced } from '../activities.js';
import { connectFigures, cpuSnapshot, phaseCpu, remainingMs, type Scenario, serverWindow } from '../context.js';
import { BenchFailure } from '../failure.js';
import { formatInt, formatMs, formatPct, round } from '../format.js';
import { Histogram } from '../histogram.js';
import { nowUs, sleep } from '../proc.js';
import { Report } from '../report.js';
import type { WireConnection } from '../wire.js';
import { backendApi, closeDirect, type DirectClient, openDirect } from './direct.js';

/** The reactions a server allows by default (`comments.reactions`). */
const REACTIONS = ['like', 'love', 'laugh', 'wow', 'sad', 'angry'] as const;

interface ReactionCount {
  reaction: string;
  count: number;
  userIds: string[];
}

interface ReactionState {
  /** Exact counts; each `userIds` lists the first `comments.reactionUsers` users only. */
  reactions: ReactionCount[];
  version: number;
  /** The reactions the answering user holds on the comment after the request. */
  mine: string[];
}

interface Watcher {
  /** Highest reaction version seen, and the counts it came with. */
  version: number;
  reactions: ReactionCount[];
  /** The message of the newest reaction push, parsed only at the end (see `onRaw`). */
  lastRaw: string | null;
  /** Comments of the comment phase received, by their number. */
  seen: Uint8Array;
  received: number;
  duplicates: number;
}

/** `{like: 3, …}` without the zero counts. */
function countsOf(reactions: readonly ReactionCount[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of reactions) if (r.count > 0) out[r.reaction] = r.count;
  return out;
}

const sameCounts = (a: Record<string, number>, b: Record<string, number>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/** The body of comment `k` of the comment phase: its number and its send time (µs, CLOCK_MONOTONIC). */
const BODY_PATTERN = /"body":"sb (\d+) (\d+)"/g;

/**
 * A hot comment under reaction load, then a thread taking comments at a steady rate. Every
 * client lives in the bench process: `--watchers` subscribed to the live channel of the
 * comments (`comments:<channel>`), `--users` writing. Reaction latency is acknowledgement →
 * the moment every watcher holds a count that includes the change (its version or a later
 * one: reaction pushes are conflated within 50 ms and carry the comment's reaction version).
 */
export const commentsScenario: Scenario = {
  name: 'comments',
  summary: 'a hot comment: reaction changes/s acknowledged and ack → every watcher; then comment create → receipt at every watcher',
  options: [
    { flag: '--watchers', kind: 'count', default: '1000', help: 'connections subscribed to the live channel of the comments' },
    { flag: '--users', kind: 'count', default: '200', help: 'users setting and unsetting reactions on the hot comment (one connection each)' },
    {
      flag: '--rate',
      kind: 'number',
      default: '3000',
      min: 1,
      help: 'reaction changes per second offered over all users (each user at most one in flight; the server allows 20 per user per second)',
    },
    { flag: '--duration', kind: 'duration', default: '10s', min: 100, help: 'reaction phase' },
    { flag: '--comment-rate', kind: 'number', default: '200', min: 0, help: 'comments created per second in the comment phase (0: no comment phase)' },
    { flag: '--comment-duration', kind: 'duration', default: '10s', min: 100, help: 'comment phase' },
    { flag: '--authors', kind: 'count', default: '20', help: 'distinct users writing the comments (each reply notifies the thread’s other followers)' },
    { flag: '--drain', kind: 'duration', default: '15s', help: 'longest wait for the watchers after each phase' },
  ],
  connections: (a) => a.count('--watchers') + a.count('--users'),
  estimateMs: (a) =>
    120_000 + (a.count('--watchers') + a.count('--users')) * 20 + a.ms('--duration') * 2 + a.ms('--comment-duration') * 3 + a.ms('--drain') * 2,

  async run(ctx) {
    const { args, gauge, progress, target } = ctx;
    const watchersN = args.count('--watchers');
    const usersN = args.count('--users');
    const rate = args.num('--rate');
    const durationMs = args.ms('--duration');
    const commentRate = args.num('--comment-rate');
    const authors = Math.min(args.count('--authors'), usersN);
    const report = new Report('comments', args.toJSON());
    const api = backendApi(ctx);
    const channel = `${target.namespace}:bench-comments`;
    const live = `comments:${channel}`;

    // The hot comment, started by the backend.
    const created = await api('POST', `/channels/${encodeURIComponent(channel)}/threads`, { userId: 'bench-author', body: 'The hot comment' });
    if (created.status !== 201) throw new BenchFailure(`could not start a thread on ${channel}: HTTP ${created.status} ${JSON.stringify(created.body)}`);
    const hot = (created.body as { thread: { id: string; comments: Array<{ id: string }> } }).thread;
    const threadId = hot.id;
    const commentId = hot.comments[0]?.id as string;

    // Watchers: reaction pushes parsed, comment pushes counted by pattern (no JSON parse per frame).
    const commentsPlanned = Math.max(0, Math.round((commentRate * args.ms('--comment-duration')) / 1000));
    const watchers: Watcher[] = Array.from({ length: watchersN }, () => ({
      version: 0,
      reactions: [],
      lastRaw: null,
      seen: new Uint8Array(commentsPlanned + 1),
      received: 0,
      duplicates: 0,
    }));
    /** Per pushed reaction version: watchers that reached it with that push, and when the last of them did. */
    const pushFirst = new Map<number, { count: number; lastUs: number }>();
    let staleReactionPushes = 0;
    const commentLatency = new Histogram();
    let measureComments = false;
    /** A watcher reached a reaction version (with the push that carried it). */
    const reached = (w: Watcher, version: number): boolean => {
      if (version < w.version) {
        staleReactionPushes++;
        return false;
      }
      if (version === w.version) return false;
      w.version = version;
      const t = nowUs();
      const entry = pushFirst.get(version);
      if (entry) {
        entry.count++;
        entry.lastUs = t;
      } else pushFirst.set(version, { count: 1, lastUs: t });
      return true;
    };
    const commentMark = `"commentId":"${commentId}"`;
    const wireOf = (i: number) => ({
      onRaw: (text: string) => {
        const ping = text.includes('"push":"ping"');
        const reaction = text.includes('"kind":"reaction"');
        // Comments are counted from the message's text, whatever else it holds: a ping or a
        // reaction push the server sent in the same write still goes through the decoder
        // (which passes comment pushes by), so none of them is missed or counted twice.
        if (text.includes('"kind":"comment"')) {
          if (measureComments) {
            const w = watchers[i] as Watcher;
            const t = nowUs();
            for (const m of text.matchAll(BODY_PATTERN)) {
              const k = Number(m[1]);
              if (k >= w.seen.length) continue;
              if (w.seen[k]) w.duplicates++;
              else {
                w.seen[k] = 1;
                w.received++;
                commentLatency.record(t - Number(m[2]));
              }
            }
          }
          return !ping && !reaction;
        }
        // A message that is one reaction push of the hot comment: only its version is read
        // now (the last field of the push); the counts are parsed once, at the end, from the
        // newest. The generator then spends its core on the server's messages, not on parsing
        // every user id of every push (the server parses nothing of them).
        if (reaction && !ping && text.indexOf('"push":') === text.lastIndexOf('"push":') && text.includes(commentMark)) {
          const at = text.lastIndexOf('"version":');
          const version = at < 0 ? Number.NaN : Number.parseInt(text.slice(at + 10), 10);
          if (!Number.isSafeInteger(version)) return false;
          const w = watchers[i] as Watcher;
          if (reached(w, version)) w.lastRaw = text;
          return true;
        }
        return false;
      },
      onPush: (push: { push: string; data?: unknown }) => {
        if (push.push !== 'pub') return;
        const data = push.data as { kind?: string; commentId?: string; version?: number; reactions?: ReactionCount[] };
        if (data.kind !== 'reaction' || data.commentId !== commentId || typeof data.version !== 'number') return;
        const w = watchers[i] as Watcher;
        if (!reached(w, data.version)) return;
        w.reactions = data.reactions ?? [];
        w.lastRaw = null;
      },
    });

    progress.phase('connecting watchers');
    const watch = await openDirect(ctx, {
      count: watchersN,
      user: (i) => `cw${i}`,
      caps: { [`${target.namespace}:*`]: ['subscribe'] },
      subscribe: live,
      wire: wireOf,
    });
    progress.phase('connecting users');
    const write = await openDirect(ctx, { count: usersN, user: (i) => `cu${i}`, caps: { [`${target.namespace}:*`]: ['subscribe', 'comment'] } });
    const watching = watch.clients.length;
    try {
      // ------------------------------------------------------------ reactions
      const perUser = rate / Math.max(1, write.clients.length);
      const intervalUs = 1e6 / perUser;
      const ops = new OpCounter();
      const ackUs = new Map<number, number>();
      let unchangedAnswers = 0;
      let wrongAnswers = 0;
      const state = new Map<string, boolean>();
      gauge.mark();
      progress.phase(`reactions ${formatInt(rate)}/s`);
      const startUs = nowUs();
      const endUs = startUs + durationMs * 1000;
      const user = async (c: DirectClient, slot: number): Promise<void> => {
        let due = startUs + (slot / Math.max(1, write.clients.length)) * intervalUs;
        let k = slot;
        while (nowUs() < endUs && nowUs() < ctx.deadlineUs) {
          const wait = (due - nowUs()) / 1000;
          if (wait > 0) await sleep(wait);
          if (nowUs() >= endUs) break;
          const reaction = REACTIONS[k++ % REACTIONS.length] as string;
          const key = `${c.user}|${reaction}`;
          const on = !state.get(key);
          const answer = (await ops.track(null, c.conn.command('comments.set_reaction', { threadId, commentId, reaction, on }))) as ReactionState | undefined;
          if (answer) {
            const t = nowUs();
            state.set(key, on);
            if (answer.mine.includes(reaction) !== on) wrongAnswers++;
            if (ackUs.has(answer.version)) unchangedAnswers++;
            else ackUs.set(answer.version, t);
          }
          due = Math.max(due + intervalUs, nowUs() - intervalUs);
        }
      };
      await Promise.all(write.clients.map((c, slot) => user(c, slot)));
      const reactSeconds = Math.max(1e-3, (nowUs() - startUs) / 1e6);
      const lastVersion = Math.max(0, ...ackUs.keys());
      progress.phase('draining reaction pushes');
      const drainEnd = nowUs() + Math.min(args.ms('--drain'), remainingMs(ctx)) * 1000;
      const behind = () => watch.clients.filter((c) => (watchers[c.i] as Watcher).version < lastVersion).length;
      while (behind() > 0 && nowUs() < drainEnd) await sleep(50);
      const reactSnap = cpuSnapshot(ctx);

      // Every acknowledged change: when did every watcher hold it (or a later version)?
      const versions = [...pushFirst.keys()].sort((a, b) => a - b);
      const allSeenUs = new Map<number, number>();
      let later = Number.POSITIVE_INFINITY;
      for (let j = versions.length - 1; j >= 0; j--) {
        const v = versions[j] as number;
        const e = pushFirst.get(v) as { count: number; lastUs: number };
        // Watchers that skipped this push got a later one: they held v by the later push's time.
        const t = e.count >= watching ? e.lastUs : Math.max(e.lastUs, later);
        allSeenUs.set(v, t);
        later = t;
      }
      const reactLatency = new Histogram();
      let neverEverywhere = 0;
      for (const [v, t] of ackUs) {
        let lo = 0;
        let hi = versions.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if ((versions[mid] as number) < v) lo = mid + 1;
          else hi = mid;
        }
        const seenAt = lo < versions.length ? (allSeenUs.get(versions[lo] as number) as number) : Number.POSITIVE_INFINITY;
        if (!Number.isFinite(seenAt)) neverEverywhere++;
        else reactLatency.record(Math.max(0, seenAt - t));
      }

      // The database's counts (HTTP API) against every watcher's last push and the users' own state.
      const stored = await api('GET', `/threads/${threadId}`);
      const storedComment = (stored.body as { comments?: Array<{ id: string; reactions: ReactionCount[] }> }).comments?.find((c) => c.id === commentId);
      const dbCounts = countsOf(storedComment?.reactions ?? []);
      const expected: Record<string, number> = {};
      for (const [key, on] of state) if (on) expected[key.split('|')[1] as string] = (expected[key.split('|')[1] as string] ?? 0) + 1;
      for (const w of watchers) if (w.lastRaw !== null) w.reactions = reactionsOfRaw(w.lastRaw, commentId) ?? w.reactions;
      const disagreeing = watch.clients.filter((c) => !sameCounts(countsOf((watchers[c.i] as Watcher).reactions), dbCounts)).length;

      report.section('Load');
      connectFigures(report, 'connect', { ...watch, latency: watch.latency });
      report.add('users', write.ok, 'users writing', `${formatInt(write.ok)} of ${formatInt(usersN)}${write.failed ? ` (${write.errors.join('; ')})` : ''}`);
      report.add(
        'reactions.offeredPerSecond',
        rate,
        'reaction changes offered',
        `${formatInt(rate)} /s for ${(durationMs / 1000).toFixed(1)} s (${perUser.toFixed(1)} /s per user)`,
      );

      report.section('Reactions on one hot comment');
      const changesPerSecond = ackUs.size / reactSeconds;
      report.add(
        'reactions.acked',
        ops.ok,
        'changes acknowledged',
        `${formatInt(ops.ok)} = ${formatInt(changesPerSecond)} /s${ops.failed ? `, ${formatInt(ops.failed)} refused ${JSON.stringify(ops.errors)}` : ''}`,
      );
      report.add('reactions.changesPerSecond', round(changesPerSecond, 1));
      report.add('reactions.failed', ops.failed);
      report.add('reactions.errors', ops.errors);
      report.add('reactions.unchangedAnswers', unchangedAnswers);
      report.add('reactions.wrongAnswers', wrongAnswers);
      report.latency('reactions.ackLatency', 'set_reaction round trip', ops.latency);
      report.add(
        'reactions.pushes',
        versions.length,
        'reaction pushes',
        `${formatInt(versions.length)} (${(versions.length / reactSeconds).toFixed(1)} /s, conflated)`,
      );
      const rl = report.latency('reactions.everyWatcherLatency', 'ack → every watcher', reactLatency);
      report.add('reactions.neverEverywhere', neverEverywhere);
      report.add('reactions.lastVersion', lastVersion);
      report.add('reactions.stalePushes', staleReactionPushes);
      report.add('reactions.database', dbCounts, 'database counts', JSON.stringify(dbCounts));
      report.add('reactions.watchersDisagreeing', disagreeing, 'watchers ≠ database', formatInt(disagreeing));
      phaseCpu(report, 'reactions', reactSnap, ackUs.size, 'change');

      report.check('every watcher connected', watch.ok === watchersN, `${formatInt(watch.ok)} of ${formatInt(watchersN)}`);
      report.check('every user connected', write.ok === usersN, `${formatInt(write.ok)} of ${formatInt(usersN)}`);
      report.check('every reaction change acknowledged', ops.failed === 0 && ops.ok > 0, `${formatInt(ops.ok)} acknowledged, ${formatInt(ops.failed)} refused`);
      report.check(
        'each answer is the state its own request produced',
        wrongAnswers === 0 && unchangedAnswers === 0,
        `${wrongAnswers} wrong, ${unchangedAnswers} without a new version`,
      );
      report.check(
        'every change reached every watcher',
        neverEverywhere === 0,
        `${formatInt(neverEverywhere)} of ${formatInt(ackUs.size)} not seen by every watcher`,
      );
      report.check('reaction versions never go back at a watcher', staleReactionPushes === 0, `${staleReactionPushes} older pushes`);
      report.check(
        'database counts = the users’ own state',
        sameCounts(dbCounts, expected),
        `database ${JSON.stringify(dbCounts)}, users ${JSON.stringify(expected)}`,
      );
      report.check(
        'every watcher’s last counts = the database',
        disagreeing === 0 && watching > 0,
        `${formatInt(disagreeing)} of ${formatInt(watching)} differ`,
      );
      report.target('≥ 3,000 reaction changes/s acknowledged', changesPerSecond >= 3000, `${formatInt(changesPerSecond)} /s`);
      report.target('p99 ack → every watcher ≤ 150 ms', rl.count > 0 && rl.p99 <= 150, `p99 ${formatMs(rl.p99)}`);

      // ------------------------------------------------------------ comments
      if (commentsPlanned > 0) {
        const t2 = await api('POST', `/channels/${encodeURIComponent(channel)}/threads`, { userId: 'bench-author', body: 'A busy thread' });
        if (t2.status !== 201) throw new BenchFailure(`could not start the second thread: HTTP ${t2.status}`);
        const busy = (t2.body as { thread: { id: string } }).thread.id;
        await sleep(200);
        measureComments = true;
        gauge.mark();
        const cops = new OpCounter();
        const seqs: number[] = [];
        const writers = write.clients.slice(0, authors);
        if (writers.length === 0) throw new BenchFailure('no user connected to write comments');
        progress.phase(`comments ${formatInt(commentRate)}/s`);
        const cStart = nowUs();
        let acked = 0;
        let sent = 0;
        const ackedKs: number[] = [];
        const inflight = new Set<Promise<unknown>>();
        await paced(commentsPlanned, commentRate, cStart + args.ms('--comment-duration') * 1000 + 1e6, async (k) => {
          const conn = (writers[k % writers.length] as DirectClient).conn as WireConnection;
          sent++;
          const p = cops.track(null, conn.command('comments.reply', { threadId: busy, body: `sb ${k} ${Math.round(nowUs())}` }));
          inflight.add(p);
          const r = (await p) as { comment: { seq: number } } | undefined;
          inflight.delete(p);
          if (r) {
            acked++;
            ackedKs.push(k);
            seqs.push(r.comment.seq);
          }
        });
        const createSeconds = Math.max(1e-3, (nowUs() - cStart) / 1e6);
        progress.phase('draining comment pushes');
        const cDrainEnd = nowUs() + Math.min(args.ms('--drain'), remainingMs(ctx)) * 1000;
        // Requests still unanswered (a server behind the offered rate) get the drain time too.
        while (inflight.size > 0 && nowUs() < cDrainEnd) await sleep(50);
        const unanswered = inflight.size;
        const short = () => watch.clients.filter((c) => (watchers[c.i] as Watcher).received < acked).length;
        const total = () => watch.clients.reduce((a, c) => a + (watchers[c.i] as Watcher).received, 0);
        // Until every watcher has as many as were acknowledged and nothing more arrived for 500 ms.
        let lastTotal = -1;
        let stableSince = nowUs();
        while (nowUs() < cDrainEnd) {
          const t = total();
          if (t !== lastTotal) {
            lastTotal = t;
            stableSince = nowUs();
          }
          if (short() === 0 && nowUs() - stableSince > 500_000) break;
          await sleep(50);
        }
        let delivered = 0;
        for (const c of watch.clients) {
          const seen = (watchers[c.i] as Watcher).seen;
          for (const k of ackedKs) delivered += seen[k] as number;
        }
        const duplicates = watch.clients.reduce((a, c) => a + (watchers[c.i] as Watcher).duplicates, 0);
        seqs.sort((a, b) => a - b);
        // seq 1 is the thread's first comment; with every request answered the seqs are 2, 3, … exactly.
        const distinct = new Set(seqs).size === seqs.length;
        const contiguous = distinct && (unanswered > 0 || seqs.every((s, j) => s === j + 2));
        const expectedDeliveries = acked * watching;

        report.section('Comments on a busy thread');
        report.add('comments.offeredPerSecond', commentRate, 'comments offered', `${formatInt(commentRate)} /s by ${writers.length} authors`);
        report.add(
          'comments.acked',
          acked,
          'comments created',
          `${formatInt(acked)} of ${formatInt(commentsPlanned)} planned = ${formatInt(acked / createSeconds)} /s${sent < commentsPlanned ? `; ${formatInt(commentsPlanned - sent)} not sent (behind the rate at the end)` : ''}${unanswered ? `; ${formatInt(unanswered)} unanswered after the drain` : ''}${cops.failed ? `, ${formatInt(cops.failed)} refused ${JSON.stringify(cops.errors)}` : ''}`,
        );
        report.add('comments.sent', sent);
        report.add('comments.unanswered', unanswered);
        report.add('comments.createdPerSecond', round(acked / createSeconds, 1));
        report.add('comments.failed', cops.failed);
        report.latency('comments.ackLatency', 'reply round trip', cops.latency);
        report.add(
          'comments.delivered',
          delivered,
          'delivered',
          `${formatInt(delivered)} of ${formatInt(expectedDeliveries)} (${formatPct(expectedDeliveries ? (delivered / expectedDeliveries) * 100 : 100)})`,
        );
        report.add('comments.duplicates', duplicates, 'duplicates', formatInt(duplicates));
        report.add('comments.seqContiguous', contiguous);
        const cl = report.latency('comments.latency', 'create → receipt', commentLatency);
        serverWindow(report, ctx, delivered, 'comment delivery');

        report.check('no comment refused', cops.failed === 0, `${formatInt(cops.failed)} refused ${JSON.stringify(cops.errors)}`);
        report.check('seq 2, 3, … without gaps or repeats', contiguous, contiguous ? `${formatInt(seqs.length)} in order` : 'gaps or repeats');
        report.check(
          'every created comment reached every watcher once',
          delivered === expectedDeliveries && duplicates === 0,
          `${formatInt(delivered)} of ${formatInt(expectedDeliveries)}, ${duplicates} twice`,
        );
        report.target(
          `${formatInt(commentRate)} comments/s created`,
          acked === commentsPlanned,
          `${formatInt(acked / createSeconds)} /s; ${formatInt(commentsPlanned - acked)} of ${formatInt(commentsPlanned)} not created within the phase and the drain`,
        );
        report.target('p99 create → receipt ≤ 50 ms', cl.count > 0 && cl.p99 <= 50, `p99 ${formatMs(cl.p99)}`);
      } else {
        report.section('Server');
        serverWindow(report, ctx);
      }
      report.note(
        'Every client runs in the bench process (no worker processes); reaction latency runs from the acknowledgement to the moment the last watcher received a push whose version includes the change.',
      );
      return report;
    } finally {
      await closeDirect([...watch.clients, ...write.clients]);
    }
  },
};

/** The reactions of the reaction push of `commentId` in a message, or null. */
function reactionsOfRaw(text: string, commentId: string): ReactionCount[] | null {
  for (const frame of decodeServerMessage(text)) {
    if (!('push' in frame) || frame.push !== 'pub') continue;
    const data = frame.data as { kind?: string; commentId?: string; reactions?: ReactionCount[] };
    if (data.kind === 'reaction' && data.commentId === commentId) return data.reactions ?? [];
  }
  return null;
}
