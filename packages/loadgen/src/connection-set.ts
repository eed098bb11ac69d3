import type { Push, SubscribeResult } from '@switchboard/protocol';
import { Histogram } from './histogram.js';
import {
  type CountersReply,
  channelOf,
  type OpenReply,
  type OpenRequest,
  type ResultsReply,
  type ResultsRequest,
  type StormReply,
  type StormRequest,
  type Target,
  urlFor,
} from './ipc.js';
import { nowUs, withTimeout } from './proc.js';
import { mintToken } from './token.js';
import { WireConnection } from './wire.js';

const ACTIONS = ['subscribe', 'publish', 'presence', 'history', 'signal'] as const;
const STEP_MS = 30_000;

/** One bench connection's bookkeeping. */
export interface Slot {
  g: number;
  sub: string;
  channel: string;
  role: string;
  token: string;
  conn: WireConnection | null;
  ok: boolean;
  lost: boolean;
  epoch: string;
  /** Highest offset received on its channel (from the subscribe reply, then every publication). */
  last: number;
  /** Measured publications received. */
  count: number;
  /** Commands of this connection that were refused or never answered. */
  failures: number;
  watch: boolean;
  presence: boolean;
  target: Target;
  address: string | undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Publisher timestamp of a publication (bench payload or a notification carrying one), and whether it is measured. */
function stampOf(data: unknown): number | null {
  if (data === null || typeof data !== 'object') return null;
  const d = data as { t?: unknown; w?: unknown; kind?: unknown; notification?: { data?: { t?: unknown } } };
  if (typeof d.t === 'number') return d.w ? null : d.t;
  if (d.kind === 'notification') {
    const t = d.notification?.data?.t;
    return typeof t === 'number' ? t : null;
  }
  return null;
}

/**
 * The connections of one worker process, and what they received: per connection the last
 * offset of its channel (gaps = missed, repeats = duplicates), measured counts, latencies.
 */
export class ConnectionSet {
  readonly slots: Slot[] = [];
  readonly latency = new Histogram();
  readonly recent = new Histogram();
  readonly presenceLatency = new Histogram();
  received = 0;
  measured = 0;
  missed = 0;
  duplicates = 0;
  outOfOrder = 0;
  presenceEvents = 0;
  signals = 0;
  openCount = 0;
  failedOpens = 0;
  lastRecvUs = 0;
  readonly lost: Record<string, number> = {};

  #onPush(slot: Slot, push: Push): void {
    if (push.push === 'pub') {
      if (push.channel === slot.channel) this.#onPub(slot, push.offset, push.data);
      return;
    }
    if (push.push === 'join' || push.push === 'update' || push.push === 'leave') {
      if (!slot.watch) return;
      this.presenceEvents++;
      const state = push.device?.state as { t?: unknown } | null;
      if (push.push !== 'leave' && state && typeof state.t === 'number') this.presenceLatency.record(nowUs() - state.t);
      return;
    }
    if (push.push === 'signal') this.signals++;
    else if (push.push === 'unsubscribe') this.#count(`unsubscribe ${push.code}`);
  }

  #onPub(slot: Slot, offset: number, data: unknown): void {
    this.received++;
    if (offset === slot.last) this.duplicates++;
    else if (offset < slot.last) this.outOfOrder++;
    else {
      if (slot.last >= 0 && offset > slot.last + 1) this.missed += offset - slot.last - 1;
      slot.last = offset;
    }
    const t = stampOf(data);
    if (t === null) return;
    const now = nowUs();
    this.measured++;
    slot.count++;
    this.latency.record(now - t);
    this.recent.record(now - t);
    this.lastRecvUs = now;
  }

  #count(key: string): void {
    this.lost[key] = (this.lost[key] ?? 0) + 1;
  }

  #onLost(slot: Slot, code: number): void {
    if (slot.lost) return;
    slot.lost = true;
    if (slot.ok) this.openCount--;
    this.#count(`close ${code}`);
  }

  /** Open, connect and subscribe (with recovery from the slot's position when `recover`). */
  async #connect(slot: Slot, recover: boolean): Promise<SubscribeResult> {
    slot.lost = false;
    const conn = new WireConnection(urlFor(slot.target, slot.g), {
      localAddress: slot.address,
      onPush: (p) => this.#onPush(slot, p),
      onLost: (code) => this.#onLost(slot, code),
    });
    slot.conn = conn;
    await withTimeout(conn.opened, STEP_MS, 'open');
    await withTimeout(conn.call('connect', { token: slot.token, name: 'switchboard-bench' }), STEP_MS, 'connect');
    if (slot.channel === '') return { epoch: '', offset: 0, recoverable: false };
    const params = recover && slot.last >= 0 ? { channel: slot.channel, recover: { offset: slot.last, epoch: slot.epoch } } : { channel: slot.channel };
    const result = await withTimeout(
      conn.call('subscribe', params, (r) => this.#onSubscribed(slot, r, recover)),
      STEP_MS,
      'subscribe',
    );
    if (slot.presence) await withTimeout(conn.call('presence_set', { channel: slot.channel, state: { t: nowUs() } }), STEP_MS, 'presence_set');
    return result;
  }

  /** Runs before any publication that follows the reply. */
  #onSubscribed(slot: Slot, r: SubscribeResult, recover: boolean): void {
    if (recover && r.recovered && r.epoch === slot.epoch) {
      for (const p of r.publications ?? []) this.#onPub(slot, p.offset, p.data);
    } else if (recover && slot.last >= 0 && r.epoch === slot.epoch && r.offset > slot.last) {
      this.missed += r.offset - slot.last;
    }
    if (r.offset > slot.last || r.epoch !== slot.epoch) slot.last = r.offset;
    slot.epoch = r.epoch;
  }

  async open(req: OpenRequest): Promise<OpenReply> {
    const first = this.slots.length;
    const caps = { [`${req.target.namespace}:*`]: [...ACTIONS] };
    for (let k = 0; k < req.count; k++) {
      const g = req.base + k;
      const sub = `${req.userPrefix}${g}`;
      this.slots.push({
        g,
        sub,
        channel: channelOf(req.layout, g, sub),
        role: req.role,
        token: '',
        conn: null,
        ok: false,
        lost: false,
        epoch: '',
        last: -1,
        count: 0,
        failures: 0,
        watch: req.watchPresence,
        presence: req.presence,
        target: req.target,
        address: req.addresses.length ? req.addresses[g % req.addresses.length] : undefined,
      });
    }
    const latency = new Histogram();
    const errors: string[] = [];
    let ok = 0;
    let failed = 0;
    let next = first;
    const startUs = nowUs();
    let endUs = startUs;
    const lane = async (): Promise<void> => {
      while (next < this.slots.length) {
        const slot = this.slots[next++] as Slot;
        const t0 = nowUs();
        try {
          slot.token = await mintToken(req.target.secret, { sub: slot.sub, tenant: req.target.tenant, caps, ttlSeconds: req.target.tokenTtlSeconds });
          await this.#connect(slot, false);
          slot.ok = true;
          ok++;
          this.openCount++;
          latency.record(nowUs() - t0);
        } catch (err) {
          failed++;
          this.failedOpens++;
          slot.conn?.terminate();
          if (errors.length < 5) errors.push(errorText(err));
        }
        endUs = nowUs();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency, req.count)) }, lane));
    return { type: 'opened', ok, failed, errors, startUs, endUs, latency: latency.data() };
  }

  /** Drop every socket at once (no close frame), then reconnect each with recovery. */
  async storm(req: StormRequest): Promise<StormReply> {
    const live = this.slots.filter((s) => s.ok);
    const t0Us = nowUs();
    for (const slot of live) slot.conn?.terminate();
    this.openCount -= live.filter((s) => !s.lost).length;
    const latency = new Histogram();
    const errors: string[] = [];
    const out = { reconnected: 0, recovered: 0, notRecovered: 0, failed: 0, recoveredPublications: 0 };
    let lastUs = t0Us;
    let next = 0;
    const deadline = t0Us + req.deadlineMs * 1000;
    const lane = async (): Promise<void> => {
      while (next < live.length && nowUs() < deadline) {
        const slot = live[next++] as Slot;
        try {
          const r = await this.#connect(slot, true);
          out.reconnected++;
          this.openCount++;
          if (r.recovered) {
            out.recovered++;
            out.recoveredPublications += r.publications?.length ?? 0;
          } else out.notRecovered++;
          lastUs = nowUs();
          latency.record(lastUs - t0Us);
        } catch (err) {
          out.failed++;
          slot.ok = false;
          slot.conn?.terminate();
          if (errors.length < 5) errors.push(errorText(err));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency, live.length)) }, lane));
    out.failed = live.length - out.reconnected; // those the deadline left untried count as failed too
    return { type: 'stormed', t0Us, lastUs, ...out, errors, latency: latency.data() };
  }

  counters(): CountersReply {
    const recent = this.recent.data();
    this.recent.reset();
    return {
      type: 'counters',
      open: this.openCount,
      failed: this.failedOpens,
      received: this.received,
      measured: this.measured,
      presenceEvents: this.presenceEvents,
      recent,
      lastRecvUs: this.lastRecvUs,
    };
  }

  reset(): void {
    this.latency.reset();
    this.recent.reset();
    this.presenceLatency.reset();
    this.received = 0;
    this.measured = 0;
    this.presenceEvents = 0;
    this.signals = 0;
    for (const s of this.slots) s.count = 0;
  }

  results(req: ResultsRequest): ResultsReply {
    let min = Infinity;
    let max = 0;
    let succeeded = 0;
    let tail = 0;
    let expected = 0;
    for (const s of this.slots) {
      if (!s.ok) continue;
      expected += req.measuredPerChannel[s.channel] ?? 0;
      const end = req.expected[s.channel];
      if (end !== undefined && s.last < end) tail += end - s.last;
      if (s.count < min) min = s.count;
      if (s.count > max) max = s.count;
      if (!s.lost && s.failures === 0 && s.count === (req.measuredPerChannel[s.channel] ?? 0)) succeeded++;
    }
    return {
      type: 'results',
      connections: this.slots.length,
      open: this.openCount,
      received: this.received,
      measured: this.measured,
      latency: this.latency.data(),
      minPerConnection: min === Infinity ? 0 : min,
      maxPerConnection: max,
      missed: this.missed + tail,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      presenceEvents: this.presenceEvents,
      presenceLatency: this.presenceLatency.data(),
      signals: this.signals,
      lost: { ...this.lost },
      succeeded,
      expected,
      lastRecvUs: this.lastRecvUs,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.conn?.close(2000)));
    this.openCount = 0;
  }
}
