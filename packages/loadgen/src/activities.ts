import type { ConnectionSet, Slot } from './connection-set.js';
import { Histogram } from './histogram.js';
import {
  type BenchPayload,
  BODY,
  type ChurnReply,
  type ChurnRequest,
  type MixReply,
  type MixRequest,
  type OpStats,
  type PublishReply,
  type PublishRequest,
} from './ipc.js';
import { nowUs, sleep } from './proc.js';
import { ReplyFailure } from './wire.js';

const TICK_MS = 5;

/** Acknowledged / refused commands of one kind, with their round-trip latency. */
export class OpCounter {
  ok = 0;
  failed = 0;
  readonly errors: Record<string, number> = {};
  readonly latency = new Histogram();

  /** Track one command: counts its answer, and the slot's failures when refused. */
  track<T>(slot: Slot | null, p: Promise<T>): Promise<T | undefined> {
    const t0 = nowUs();
    return p.then(
      (r) => {
        this.ok++;
        this.latency.record(nowUs() - t0);
        return r;
      },
      (err: unknown) => {
        this.failed++;
        if (slot) slot.failures++;
        const key = err instanceof ReplyFailure ? String(err.reply.code) : err instanceof Error ? err.message.slice(0, 60) : 'failed';
        this.errors[key] = (this.errors[key] ?? 0) + 1;
        return undefined;
      },
    );
  }

  stats(): OpStats {
    return { ok: this.ok, failed: this.failed, errors: { ...this.errors }, latency: this.latency.data() };
  }
}

/** Accepted publications and the highest acknowledged offset, per channel. */
export class ChannelTally {
  readonly perChannel: Record<string, number> = {};
  readonly lastOffset: Record<string, number> = {};

  add(channel: string, offset: number): void {
    this.perChannel[channel] = (this.perChannel[channel] ?? 0) + 1;
    if (offset > (this.lastOffset[channel] ?? -1)) this.lastOffset[channel] = offset;
  }
}

/**
 * Fire `total` operations evenly over time at `perSecond` (operation k at k / perSecond),
 * from one ticker: no timer per connection. Stops at `deadlineUs` or when `stop()` says so;
 * then waits (at most 10 s more) for what is in flight.
 */
export async function paced(total: number, perSecond: number, deadlineUs: number, fire: (k: number) => Promise<unknown>, stop?: () => boolean): Promise<void> {
  const inflight = new Set<Promise<unknown>>();
  const start = nowUs();
  let k = 0;
  while (k < total && nowUs() < deadlineUs && !stop?.()) {
    const due = Math.min(total, Math.floor(((nowUs() - start) / 1e6) * perSecond) + 1);
    while (k < due) {
      const p = fire(k++);
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
    await sleep(TICK_MS);
  }
  while (inflight.size > 0 && nowUs() < deadlineUs + 10e6) await Promise.race([sleep(100), ...inflight]);
}

/** A bench publication stamped now. */
export function payload(seq: number, warmup = false): BenchPayload {
  return warmup ? { t: nowUs(), s: seq, w: 1, b: BODY } : { t: nowUs(), s: seq, b: BODY };
}

/** Every open connection publishes `perConnection` messages to its channel, one every `intervalMs`. */
export async function publishEach(set: ConnectionSet, req: PublishRequest): Promise<PublishReply> {
  const live = set.slots.filter((s) => s.ok);
  const ops = new OpCounter();
  const tally = new ChannelTally();
  const seq = new Map<Slot, number>();
  const rate = live.length === 0 ? 1 : (live.length * 1000) / req.intervalMs;
  await paced(live.length * req.perConnection, rate, nowUs() + req.deadlineMs * 1000, async (k) => {
    const slot = live[k % live.length] as Slot;
    const s = (seq.get(slot) ?? 0) + 1;
    seq.set(slot, s);
    if (!slot.conn) return;
    const r = await ops.track(slot, slot.conn.call('publish', { channel: slot.channel, data: payload(s) }));
    if (r) tally.add(slot.channel, r.offset);
  });
  return { type: 'published', stats: ops.stats(), perChannel: tally.perChannel, lastOffset: tally.lastOffset };
}

/** Presence churn over the connections of one role: join, update, leave in turn, at a total rate. */
export async function churn(set: ConnectionSet, req: ChurnRequest): Promise<ChurnReply> {
  const members = set.slots.filter((s) => s.ok && s.role === req.role);
  const phase = new Map<Slot, number>();
  const ops = { join: new OpCounter(), update: new OpCounter(), leave: new OpCounter() };
  const total = Math.floor((req.opsPerSecond * req.durationMs) / 1000);
  if (members.length > 0) {
    await paced(total, req.opsPerSecond, nowUs() + req.durationMs * 1000, async (k) => {
      const slot = members[k % members.length] as Slot;
      const step = phase.get(slot) ?? 0;
      phase.set(slot, (step + 1) % 3);
      if (!slot.conn) return;
      if (step === 0) await ops.join.track(slot, slot.conn.call('presence_set', { channel: slot.channel, state: { t: nowUs(), page: '/bench' } }));
      else if (step === 1) await ops.update.track(slot, slot.conn.call('presence_set', { channel: slot.channel, state: { t: nowUs(), page: '/bench/2' } }));
      else await ops.leave.track(slot, slot.conn.call('presence_leave', { channel: slot.channel }));
    });
  }
  return { type: 'churned', ops: { join: ops.join.stats(), update: ops.update.stats(), leave: ops.leave.stats() } };
}

/** Share of each command in the mixed load, out of 100. */
export const MIX = { publish: 30, signal: 25, presence_set: 15, history: 10, presence: 5, presence_stats: 5, subscribe: 10 } as const;
type MixOp = keyof typeof MIX;
const MIX_TABLE: MixOp[] = Object.entries(MIX).flatMap(([op, n]) => Array.from({ length: n }, () => op as MixOp));

/** A mixed load: every connection sends `opsPerSecond` commands drawn from MIX, for `durationMs`. */
export async function mix(set: ConnectionSet, req: MixRequest): Promise<MixReply> {
  const live = set.slots.filter((s) => s.ok);
  const ops = Object.fromEntries(Object.keys(MIX).map((k) => [k, new OpCounter()])) as Record<MixOp, OpCounter>;
  const unsubscribe = new OpCounter();
  const tally = new ChannelTally();
  const signals: Record<string, number> = {};
  const side = new Set<Slot>();
  const seq = new Map<Slot, number>();
  const total = Math.floor((live.length * req.opsPerSecond * req.durationMs) / 1000);
  await paced(total, Math.max(1, live.length * req.opsPerSecond), nowUs() + req.durationMs * 1000, async (k) => {
    const slot = live[k % live.length] as Slot;
    const conn = slot.conn;
    if (!conn) return;
    const op = MIX_TABLE[Math.floor(Math.random() * MIX_TABLE.length)] as MixOp;
    const channel = slot.channel;
    switch (op) {
      case 'publish': {
        const s = (seq.get(slot) ?? 0) + 1;
        seq.set(slot, s);
        const r = await ops.publish.track(slot, conn.call('publish', { channel, data: payload(s) }));
        if (r) tally.add(channel, r.offset);
        return;
      }
      case 'signal': {
        const r = await ops.signal.track(slot, conn.call('signal', { channel, key: 'cursor', data: { t: nowUs(), x: k % 1000 } }));
        if (r) signals[channel] = (signals[channel] ?? 0) + 1;
        return;
      }
      case 'presence_set':
        await ops.presence_set.track(slot, conn.call('presence_set', { channel, state: { t: nowUs(), page: `/p/${k % 7}` } }));
        return;
      case 'history':
        await ops.history.track(slot, conn.call('history', { channel, limit: 10 }));
        return;
      case 'presence':
        await ops.presence.track(slot, conn.call('presence', { channel }));
        return;
      case 'presence_stats':
        await ops.presence_stats.track(slot, conn.call('presence_stats', { channel }));
        return;
      case 'subscribe': {
        // Toggle a second, private channel: subscribe now, unsubscribe next time.
        const other = `${channel}-side-${slot.g}`;
        if (side.has(slot)) {
          side.delete(slot);
          await unsubscribe.track(slot, conn.call('unsubscribe', { channel: other }));
        } else {
          side.add(slot);
          await ops.subscribe.track(slot, conn.call('subscribe', { channel: other }));
        }
      }
    }
  });
  const stats = Object.fromEntries(Object.entries(ops).map(([k, c]) => [k, c.stats()]));
  return {
    type: 'mixed',
    ops: { ...stats, unsubscribe: unsubscribe.stats() },
    perChannel: tally.perChannel,
    lastOffset: tally.lastOffset,
    signalsPerChannel: signals,
  };
}
