/**
 * The chaos suite's instruments: a publisher over the HTTP API that records every
 * acknowledged (seq, epoch, offset), subscribers that record what they were delivered and
 * every signal they were given (raw protocol clients and SDK clients), and the check that
 * compares the two. Nothing here decides how the store is broken: the test file does.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { type Subscription, SwitchboardClient } from '@switchboard/client';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { type Frame, RawClient } from '../helpers/raw-client.js';
import { ADMIN_KEY, type ClusterNode, eventually, token } from './cluster.js';
import type { RedisProcess } from './redis-servers.js';

/** The close / unsubscribe code of a lost stream (DisconnectCode.InsufficientState). */
export const INSUFFICIENT_STATE = 3009;

export interface Ack {
  seq: number;
  channel: string;
  epoch: string;
  offset: number;
  /** When the request was sent and when its 200 came back (ms, Date.now). */
  sentAt: number;
  ackedAt: number;
}

/** What one subscriber saw, in order of arrival. */
export type Seen =
  | { kind: 'pub'; at: number; seq: number; offset: number; epoch: string | undefined }
  /** The server told it the stream lost data: 3009 push (raw), or `subscribed` with `recovered: false` after recovering (SDK). */
  | { kind: 'signal'; at: number; why: string }
  /** A signal that it is stale, before the resubscribe answers (SDK: `subscribing` with 3009). */
  | { kind: 'told'; at: number; why: string }
  | { kind: 'subscribed'; at: number; epoch: string; offset: number; recovered: boolean }
  /** The client itself found an epoch change or a skipped offset in live pushes (never the server's signal). */
  | { kind: 'client-detected'; at: number; why: string };

export interface Subscriber {
  readonly name: string;
  readonly kind: 'raw' | 'sdk';
  readonly channel: string;
  readonly node: string;
  readonly seen: Seen[];
  /** Subscribed now, with no resubscribe pending. */
  settled(): boolean;
  close(): void;
}

/** POST /api/v1/publish … with the admin key; `null` when the request failed in any way. */
async function httpPublish(node: ClusterNode, channel: string, data: unknown): Promise<{ epoch: string; offset: number } | null> {
  try {
    const res = await fetch(`${node.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' },
      body: JSON.stringify({ channel, data }),
      signal: AbortSignal.timeout(3000),
    });
    const body = (await res.json()) as { epoch?: string; offset?: number };
    if (res.status !== 200 || typeof body.epoch !== 'string' || typeof body.offset !== 'number') return null;
    return { epoch: body.epoch, offset: body.offset };
  } catch {
    return null;
  }
}

/** DELETE /api/v1/channels/:channel/history with the admin key; the HTTP status. */
export async function httpRemoveHistory(node: ClusterNode, channel: string): Promise<number> {
  const res = await fetch(`${node.httpUrl}/api/v1/channels/${channel}/history`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'x-switchboard-tenant': 'acme' },
    signal: AbortSignal.timeout(3000),
  });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Publishes one request at a time through the HTTP API at about `rate` per second, to the
 * channels and nodes in turn; each publication's data is `{seq}` with a fresh seq.
 */
export class Publisher {
  readonly acked: Ack[] = [];
  failed = 0;
  #seq = 0;
  #stop = false;
  #running: Promise<void> | null = null;
  readonly #paused = new Set<string>();

  constructor(
    private readonly nodes: ClusterNode[],
    private readonly channels: string[],
    private readonly rate = 100,
  ) {}

  start(maxMs = 60_000): void {
    this.#running = this.#loop(maxMs);
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#running;
  }

  /** Publish one publication now (outside the loop), retrying up to `attempts` times. */
  async publishOne(channel: string, attempts = 1): Promise<Ack | null> {
    for (let i = 0; i < attempts; i++) {
      const seq = ++this.#seq;
      const node = this.nodes[seq % this.nodes.length] as ClusterNode;
      const sentAt = Date.now();
      const reply = await httpPublish(node, channel, { seq });
      if (reply) {
        const ack = { seq, channel, ...reply, sentAt, ackedAt: Date.now() };
        this.acked.push(ack);
        return ack;
      }
      this.failed++;
      // Backing off before a retry, as a backend would.
      await new Promise((r) => setTimeout(r, 100));
    }
    return null;
  }

  /** Leave `channel` out of the loop's turns (a quiet channel) until `resume`. */
  pause(channel: string): void {
    this.#paused.add(channel);
  }

  resume(channel: string): void {
    this.#paused.delete(channel);
  }

  ackedOn(channel: string): Ack[] {
    return this.acked.filter((a) => a.channel === channel);
  }

  async #loop(maxMs: number): Promise<void> {
    const start = Date.now();
    const interval = 1000 / this.rate;
    for (let i = 0; !this.#stop && Date.now() - start < maxMs; i++) {
      const channel = this.channels[i % this.channels.length] as string;
      if (!this.#paused.has(channel)) await this.publishOne(channel);
      const wait = start + (i + 1) * interval - Date.now();
      // Pacing at the configured rate.
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}

const seqOf = (data: unknown): number => (data as { seq?: number } | null)?.seq ?? -1;

/**
 * A subscriber on the raw protocol that does what docs/protocol.md asks of a client: on an
 * `unsubscribe` 3009 it subscribes again with `recover` set to the last publication it saw;
 * a push of another epoch or one that skips offsets makes it unsubscribe and resubscribe
 * the same way (recorded as `client-detected`, never counted as the server's signal);
 * repeats are dropped. It answers pings.
 */
export class RawSubscriber implements Subscriber {
  readonly kind = 'raw';
  readonly seen: Seen[] = [];
  repeats = 0;
  #position: { epoch: string; offset: number } | null = null;
  #pendingId: number | null = null;
  #buffer: Frame[] = [];
  #attempts = 0;

  private constructor(
    readonly name: string,
    readonly channel: string,
    readonly node: string,
    private readonly client: RawClient,
  ) {
    client.ws.on('message', (data: Buffer) => {
      for (const line of data.toString().split('\n')) if (line) this.#onFrame(JSON.parse(line) as Frame);
    });
    client.ws.on('close', (code: number) => this.seen.push({ kind: 'signal', at: Date.now(), why: `closed ${code}` }));
  }

  static async start(node: ClusterNode, name: string, channel: string): Promise<RawSubscriber> {
    const client = await RawClient.connect(node.url, await token(name));
    const sub = new RawSubscriber(name, channel, node.name, client);
    sub.#subscribe();
    await eventually(() => sub.settled(), 10_000, `${name} subscribed`);
    return sub;
  }

  settled(): boolean {
    return this.#pendingId === null && this.#position !== null && this.client.closeCode === null;
  }

  close(): void {
    this.client.terminate();
  }

  #subscribe(): void {
    const recover = this.#position ? { recover: { ...this.#position } } : {};
    this.#pendingId = this.client.send('subscribe', { channel: this.channel, ...recover });
  }

  #onFrame(f: Frame): void {
    if (f.push === 'ping') {
      this.client.sendRaw('{"method":"pong"}');
      return;
    }
    if (this.#pendingId !== null && f.id === this.#pendingId) {
      this.#onSubscribeReply(f);
      return;
    }
    if (f['channel'] !== this.channel) return;
    if (f.push === 'unsubscribe') {
      this.#onUnsubscribe(f);
      return;
    }
    if (f.push !== 'pub') return;
    if (this.#pendingId !== null) {
      this.#buffer.push(f);
      return;
    }
    this.#onPub(f);
  }

  #onSubscribeReply(f: Frame): void {
    this.#pendingId = null;
    const now = Date.now();
    if (f.error || !f.result) {
      // Temporary refusal while the store is away: try again shortly, a bounded number of times.
      if (++this.#attempts <= 100) setTimeout(() => this.#subscribe(), 100);
      return;
    }
    this.#attempts = 0;
    const r = f.result as { epoch: string; offset: number; recovered?: boolean; publications?: Array<{ offset: number; data: unknown }> };
    const recovered = r.recovered === true && this.#position !== null;
    this.seen.push({ kind: 'subscribed', at: now, epoch: r.epoch, offset: r.offset, recovered });
    this.#position = { epoch: r.epoch, offset: recovered ? (this.#position as { offset: number }).offset : r.offset };
    if (recovered) for (const p of r.publications ?? []) this.#onPub({ push: 'pub', channel: this.channel, epoch: r.epoch, ...p });
    if (r.offset > this.#position.offset) this.#position.offset = r.offset;
    const buffered = this.#buffer.splice(0);
    for (const b of buffered) if (this.#pendingId === null) this.#onPub(b);
  }

  #onUnsubscribe(f: Frame): void {
    const code = f['code'] as number;
    this.seen.push({ kind: code === INSUFFICIENT_STATE ? 'signal' : 'client-detected', at: Date.now(), why: `unsubscribe ${code}` });
    this.#buffer = [];
    this.#subscribe();
  }

  #onPub(f: Frame): void {
    const pos = this.#position;
    if (!pos) return;
    const offset = f['offset'] as number;
    const epoch = f['epoch'] as string | undefined;
    if (epoch !== undefined && epoch !== pos.epoch) {
      this.#resync(`epoch ${pos.epoch} -> ${epoch} at offset ${offset}`);
      return;
    }
    if (offset <= pos.offset) {
      this.repeats++;
      return;
    }
    if (offset > pos.offset + 1) {
      this.#resync(`offset ${pos.offset} -> ${offset}`);
      return;
    }
    pos.offset = offset;
    this.seen.push({ kind: 'pub', at: Date.now(), seq: seqOf(f['data']), offset, epoch });
  }

  #resync(why: string): void {
    this.seen.push({ kind: 'client-detected', at: Date.now(), why });
    this.client.send('unsubscribe', { channel: this.channel });
    this.#subscribe();
  }
}

/** A subscriber through the SDK (`ws` WebSocket), recording its events. */
export class SdkSubscriber implements Subscriber {
  readonly kind = 'sdk';
  readonly seen: Seen[] = [];
  #epoch = '';

  private constructor(
    readonly name: string,
    readonly channel: string,
    readonly node: string,
    private readonly client: SwitchboardClient,
    readonly sub: Subscription,
  ) {
    sub.on('subscribed', (e) => {
      const at = Date.now();
      this.#epoch = e.epoch;
      this.seen.push({ kind: 'subscribed', at, epoch: e.epoch, offset: e.offset, recovered: e.recovered });
      if (e.wasRecovering && !e.recovered) this.seen.push({ kind: 'signal', at, why: 'subscribed recovered:false' });
    });
    sub.on('subscribing', (e) => {
      if (e.code === INSUFFICIENT_STATE) this.seen.push({ kind: 'told', at: Date.now(), why: `subscribing ${e.code}` });
    });
    sub.on('publication', (e) => {
      this.seen.push({ kind: 'pub', at: Date.now(), seq: seqOf(e.data), offset: e.offset as number, epoch: this.#epoch });
    });
  }

  static async start(node: ClusterNode, name: string, channel: string): Promise<SdkSubscriber> {
    const client = new SwitchboardClient(node.url, { getToken: () => token(name), WebSocket: WebSocket as never });
    const sub = client.subscribe(channel);
    const s = new SdkSubscriber(name, channel, node.name, client, sub);
    client.connect();
    await eventually(() => s.settled(), 10_000, `${name} subscribed`);
    return s;
  }

  settled(): boolean {
    return this.sub.state === 'subscribed';
  }

  close(): void {
    this.client.disconnect();
  }
}

/** `count` subscribers spread over nodes, channels and kinds (every combination present), connected 20 at a time. */
export async function startSubscribers(nodes: ClusterNode[], channels: string[], count: number, tag: string): Promise<Subscriber[]> {
  const subs: Subscriber[] = [];
  for (let i = 0; i < count; i += 20) {
    const batch = Array.from({ length: Math.min(20, count - i) }, (_, j) => {
      const k = i + j;
      const node = nodes[k % nodes.length] as ClusterNode;
      const channel = channels[Math.floor(k / nodes.length) % channels.length] as string;
      const name = `${tag}-${k}`;
      return Math.floor(k / (nodes.length * channels.length)) % 2 === 0 ? RawSubscriber.start(node, name, channel) : SdkSubscriber.start(node, name, channel);
    });
    subs.push(...(await Promise.all(batch)));
  }
  return subs;
}

export interface Verdict {
  subscriber: string;
  kind: 'raw' | 'sdk';
  node: string;
  channel: string;
  received: number;
  /** Acknowledged publications it never got, with a signal between its neighbours. */
  signalledMissing: number;
  /** Acknowledged publications it never got, with no signal around them. */
  silentMissing: number;
  /** Delivered with another epoch or offset than acknowledged, or of a new epoch while its position was in the old one. */
  wrongContinuation: number;
  duplicates: number;
  outOfOrder: number;
  signals: number;
  clientDetected: number;
  /** First signal (or `told`) after the fault, ms since the channel's first publication acknowledged after the fault. */
  staleness: number | null;
  /** Same, ms since the fault was complete. */
  stalenessFromFault: number | null;
  examples: string[];
}

/**
 * Compare what a subscriber got with what the publisher was acknowledged on its channel:
 * every acknowledged publication it never got must lie between a signal and the
 * neighbouring publications it did get; everything it got must carry the acknowledged
 * offset and epoch, in order, once.
 */
export function judge(s: Subscriber, acked: Ack[], fault: { start: number; end: number; observed: number | null }): Verdict {
  const v: Verdict = {
    subscriber: s.name,
    kind: s.kind,
    node: s.node,
    channel: s.channel,
    received: 0,
    signalledMissing: 0,
    silentMissing: 0,
    wrongContinuation: 0,
    duplicates: 0,
    outOfOrder: 0,
    signals: 0,
    clientDetected: 0,
    staleness: null,
    stalenessFromFault: null,
    examples: [],
  };
  const note = (text: string) => {
    if (v.examples.length < 5) v.examples.push(text);
  };
  const bySeq = new Map(acked.map((a) => [a.seq, a]));
  const at = new Map<number, number>();
  let lastSeq = -1;
  let epoch: string | null = null;
  s.seen.forEach((e, i) => {
    if (e.kind === 'signal') v.signals++;
    if (e.kind === 'client-detected') v.clientDetected++;
    if (e.kind === 'subscribed') epoch = e.epoch;
    if (e.kind !== 'pub') return;
    v.received++;
    if (at.has(e.seq)) {
      v.duplicates++;
      note(`seq ${e.seq} delivered twice`);
    }
    at.set(e.seq, i);
    if (e.seq < lastSeq) {
      v.outOfOrder++;
      note(`seq ${e.seq} after seq ${lastSeq}`);
    }
    lastSeq = Math.max(lastSeq, e.seq);
    const a = bySeq.get(e.seq);
    if (!a) return;
    // The epoch its position was in when it was delivered (raw: the push's own, checked against the position by the client).
    const heldEpoch = s.kind === 'sdk' ? e.epoch : (e.epoch ?? epoch);
    if (a.offset !== e.offset || a.epoch !== heldEpoch) {
      v.wrongContinuation++;
      note(`seq ${e.seq} acknowledged as ${a.offset}@${a.epoch}, delivered as ${e.offset}@${heldEpoch}`);
    }
  });
  const signalAt = s.seen.map((e, i) => (e.kind === 'signal' ? i : -1)).filter((i) => i >= 0);
  const signalBetween = (lo: number, hi: number) => signalAt.some((i) => i > lo && i < hi);
  const receivedSeqs = [...at.keys()].sort((x, y) => x - y);
  for (const a of acked) {
    if (at.has(a.seq)) continue;
    const before = receivedSeqs.filter((q) => q < a.seq).at(-1);
    const after = receivedSeqs.find((q) => q > a.seq);
    const lo = before === undefined ? -1 : (at.get(before) as number);
    const hi = after === undefined ? s.seen.length : (at.get(after) as number);
    if (signalBetween(lo, hi)) {
      v.signalledMissing++;
    } else {
      v.silentMissing++;
      note(`seq ${a.seq} (${a.offset}@${a.epoch}) never delivered, no signal between seq ${before} and seq ${after}`);
    }
  }
  const told = s.seen.find((e) => (e.kind === 'signal' || e.kind === 'told') && e.at >= fault.start);
  if (told) {
    v.stalenessFromFault = told.at - fault.end;
    if (fault.observed !== null) v.staleness = told.at - fault.observed;
  }
  return v;
}

export interface CaseReport {
  case: string;
  subscribers: number;
  raw: number;
  sdk: number;
  publications: number;
  failedPublishes: number;
  /** Subscribers that were told their stream lost data (at least one signal). */
  subscribersSignalled: number;
  gapsSignalled: number;
  silentGaps: number;
  wrongContinuations: number;
  duplicates: number;
  outOfOrder: number;
  clientDetected: number;
  /** ms from the first publication acknowledged after the fault (per channel) to each subscriber's signal. */
  worstStaleness: number | null;
  worstStalenessFromFault: number | null;
  epochs: Record<string, string[]>;
}

export function summarise(name: string, subs: Subscriber[], verdicts: Verdict[], pub: Publisher, channels: string[]): CaseReport {
  const sum = (f: (v: Verdict) => number) => verdicts.reduce((n, v) => n + f(v), 0);
  const max = (f: (v: Verdict) => number | null) =>
    verdicts.reduce<number | null>((m, v) => {
      const x = f(v);
      return x === null ? m : m === null ? x : Math.max(m, x);
    }, null);
  const epochs: Record<string, string[]> = {};
  for (const c of channels) epochs[c] = [...new Set(pub.ackedOn(c).map((a) => a.epoch))];
  return {
    case: name,
    subscribers: subs.length,
    raw: subs.filter((s) => s.kind === 'raw').length,
    sdk: subs.filter((s) => s.kind === 'sdk').length,
    publications: pub.acked.length,
    failedPublishes: pub.failed,
    subscribersSignalled: verdicts.filter((v) => v.signals > 0).length,
    gapsSignalled: sum((v) => v.signalledMissing),
    silentGaps: sum((v) => v.silentMissing),
    wrongContinuations: sum((v) => v.wrongContinuation),
    duplicates: sum((v) => v.duplicates),
    outOfOrder: sum((v) => v.outOfOrder),
    clientDetected: sum((v) => v.clientDetected),
    worstStaleness: max((v) => v.staleness),
    worstStalenessFromFault: max((v) => v.stalenessFromFault),
    epochs,
  };
}

/** Start again a Redis process of ours that has exited (or SIGKILL it first), with the very same arguments. */
export async function respawnRedis(p: RedisProcess): Promise<RedisProcess> {
  if (p.proc.exitCode === null && p.proc.signalCode === null && p.proc.pid !== undefined) process.kill(p.proc.pid, 'SIGKILL');
  await p.exited;
  const [bin, ...args] = p.proc.spawnargs as [string, ...string[]];
  const proc: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  proc.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await eventually(
    async () => {
      if (proc.exitCode !== null) throw new Error(`redis-server on ${p.port} exited:\n${output.join('')}`);
      return (await redisCall(p.port, 'PING').catch(() => null)) === 'PONG';
    },
    10_000,
    `redis-server on ${p.port} again`,
  );
  return { port: p.port, proc, exited, output };
}

/** One command on a fresh connection to one of our Redis processes. */
export async function redisCall(port: number, ...args: Array<string | number>): Promise<unknown> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await r.connect();
    return await r.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    r.disconnect();
  }
}
