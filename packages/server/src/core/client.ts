import { randomBytes } from 'node:crypto';
import { DisconnectCode, type DisconnectInfo, ErrorCode, jsonDepth, type PresenceStatus, splitFrames } from '@switchboard/protocol';
import { type Identity, validUntil } from '../auth/token-verifier.js';
import { TokenBucket } from '../engine/token-bucket.js';
import { ReplyError } from '../errors/reply-error.js';
import { CloseRecord } from './close-record.js';
import type { Connection, ConnectionMeta } from './connection.js';
import { errorFrame, PING_FRAME, RawJson, replyFrame } from './encode.js';
import { identityExpired } from './identity-renewal.js';
import type { ClientHost, KernelSession } from './kernel-context.js';
import { Outbound } from './outbound.js';
import { noteRateRefusal, reportRateRefusals } from './rate-refusals.js';
import type { Delivered, Subscription } from './subscription.js';
import type { TrafficCounter } from './tenant-views.js';
import type { TimerHandle } from './timer-wheel.js';

export type ClientState = 'handshake' | 'connected' | 'closed';

const SETTLED: Promise<void> = Promise.resolve();
const noop = (): void => {};
/** Pipelined commands (publishes) one connection may have in flight; beyond, they wait their turn. */
const MAX_PIPELINED = 64;

// Deadline callbacks shared by every connection (the wheel passes the client), so a
// connection's deadlines allocate no closures.
const onHandshakeTimeout = (c: Client): void => c.close(DisconnectCode.Stale);
const onExpiry = (c: Client): void => void identityExpired(c.node, c);
const onNoPong = (c: Client): void => c.close(DisconnectCode.NoPong);
const onPingDue = (c: Client): void => c.ping();
const onIdleCheck = (c: Client): void => c.checkIdle();

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * One connection: framing, command dispatch (serialised per connection, in arrival
 * order), the bounded outbound queue with one write per event-loop turn, and its
 * deadlines on the node's timer wheel.
 */
export class Client implements KernelSession {
  readonly id = randomBytes(9).toString('base64url');
  readonly connectedAt: number;
  /** How it ended (close code and reason) and how long it lived, on the monotonic clock. */
  readonly ended = new CloseRecord();
  #state: ClientState = 'handshake';
  #identity: Identity | null = null;
  /** Subscriptions by channel key. */
  readonly #subs = new Map<string, Subscription>();
  /** Status chosen by the client (`status` command); `idle` is derived from inactivity. */
  #manualStatus: 'online' | 'away' = 'online';
  #idle = false;
  #lastActivity: number;
  /** Whether `connect` completed (hooks saw this connection). */
  #wasConnected = false;
  /** Whether this connection holds a connection slot in the limit store. */
  #holdsSlot = false;

  /** Frames on their way out: one write per turn, in priority order while congested. */
  readonly #out: Outbound;
  /** Settles when every command received so far has finished: a serial command waits for it. */
  #chain: Promise<void> = SETTLED;
  /** Settles when the last serial command (and all before it) finished: a pipelined command waits for it. */
  #barrier: Promise<void> = SETTLED;
  /** Pipelined commands running, and those waiting for a free place (first come, first served). */
  #pipelined = 0;
  readonly #slotWaiters: Array<() => void> = [];
  #submitted: Promise<void> = SETTLED;
  /** Sequence number of the next command, and of the next command whose reply may go out. */
  #nextSeq = 0;
  #replySeq = 0;
  /** Replies of pipelined commands that finished before an earlier command did, by sequence number. */
  readonly #heldReplies = new Map<number, Buffer | null>();
  /** Ids of commands queued or running (few at a time: an array is smaller than a Set). */
  readonly #inflight: number[] = [];
  #refusedInARow = 0;
  readonly #commands: TokenBucket;
  #publishBucket: TokenBucket | null = null;
  /** The tenant's message counter on this node, once connected. */
  #traffic: TrafficCounter | null = null;
  #signalBucket: TokenBucket | null = null;
  #closeAfterReply: DisconnectInfo | null = null;
  #afterReply: Array<() => void> | null = null;
  #handshakeTimer: TimerHandle | null = null;
  #pingTimer: TimerHandle | null = null;
  #pongTimer: TimerHandle | null = null;
  #expiryTimer: TimerHandle | null = null;
  #idleTimer: TimerHandle | null = null;
  #cleaned = false;

  constructor(
    readonly node: ClientHost,
    private readonly conn: Connection,
    readonly meta: ConnectionMeta,
  ) {
    const l = node.config.limits;
    this.connectedAt = node.now();
    this.#lastActivity = this.connectedAt;
    this.#out = new Outbound(conn, {
      config: node.config,
      stats: node.stats,
      markDirty: () => node.markDirty(this),
      slowConsumer: () => this.close(DisconnectCode.SlowConsumer),
      shed: (key) => node.resubscribe(this, key),
    });
    this.#commands = new TokenBucket(l.commandsPerSecond, l.commandsPerSecond * 2);
    this.#handshakeTimer = node.wheel.schedule(node.config.timeouts.handshake, onHandshakeTimeout, this);
  }

  /**
   * A place in this connection's order of engine submissions: wait for `ready`, submit,
   * then call `done` (also on failure). Publishes that run at once reach the engine in the
   * order they arrived, whatever their hooks took.
   */
  submitTurn(): { ready: Promise<void>; done: () => void } {
    const ready = this.#submitted;
    let done = noop;
    this.#submitted = new Promise<void>((resolve) => {
      done = resolve;
    });
    return { ready, done };
  }

  /** Publish rate of this connection (made on first use: most connections never publish). */
  get publishBucket(): TokenBucket {
    const l = this.node.config.limits;
    this.#publishBucket ??= new TokenBucket(l.publishPerSecondPerConnection, l.publishPerSecondPerConnection * 2);
    return this.#publishBucket;
  }

  /** Signal rate of this connection (made on first use). */
  get signalBucket(): TokenBucket {
    const l = this.node.config.limits;
    this.#signalBucket ??= new TokenBucket(l.signalsPerSecond, l.signalsPerSecond * 2);
    return this.#signalBucket;
  }

  get state(): ClientState {
    return this.#state;
  }

  /** Who the connection is: null until `connect` verified a token, replaced by `refresh`. */
  get identity(): Identity | null {
    return this.#identity;
  }

  /** Whether `connect` completed (hooks saw this connection). */
  get wasConnected(): boolean {
    return this.#wasConnected;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** The status shown in presence. */
  get status(): PresenceStatus {
    return this.#idle ? 'idle' : this.#manualStatus;
  }

  /** The status the client chose (`status` command); whether it changed. */
  setManualStatus(status: 'online' | 'away'): boolean {
    const changed = this.#manualStatus !== status;
    this.#manualStatus = status;
    return changed;
  }

  // ---- identity and connection slot ----

  /** `connect` took a connection slot for this identity in the limit store. */
  holdSlot(identity: Identity): void {
    this.#holdsSlot = true;
    this.#identity = identity;
  }

  /** Give the slot up: true when this connection held one (the caller releases it in the store). */
  dropSlot(): boolean {
    const held = this.#holdsSlot;
    this.#holdsSlot = false;
    return held;
  }

  /** A refreshed token for the same user: new capabilities and a new expiry. */
  refreshIdentity(identity: Identity): void {
    this.#identity = identity;
    this.#scheduleExpiry();
  }

  // ---- subscriptions ----

  isSubscribed(key: string): boolean {
    return this.#subs.has(key);
  }

  get subscriptionCount(): number {
    return this.#subs.size;
  }

  subscription(key: string): Subscription | undefined {
    return this.#subs.get(key);
  }

  subscriptions(): IterableIterator<Subscription> {
    return this.#subs.values();
  }

  addSubscription(sub: Subscription): void {
    this.#subs.set(sub.ch.key, sub);
  }

  /** Forget a subscription; the node leaves the hub and presence for it. */
  dropSubscription(key: string): Subscription | undefined {
    const sub = this.#subs.get(key);
    if (sub) {
      this.#subs.delete(key);
      this.#out.dropLane(key);
    }
    return sub;
  }

  // ---- inbound ----

  /** A text message from the transport. */
  handleMessage(text: string): void {
    this.node.stats.messagesIn++;
    this.node.stats.bytesIn += text.length;
    if (this.#traffic) {
      this.#traffic.in++;
      this.#traffic.bytesIn += text.length;
    }
    for (const frameText of splitFrames(text)) {
      if (this.closed) return;
      this.#handleFrame(frameText);
    }
  }

  /** A transport-level ping (counts against the command rate, so ping floods are stopped). */
  handleTransportPing(): void {
    this.#admit();
  }

  #handleFrame(text: string): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      this.close(DisconnectCode.BadRequest, 'invalid JSON');
      return;
    }
    if (!isObject(frame)) {
      this.close(DisconnectCode.BadRequest, 'frame must be an object');
      return;
    }
    if (!this.#admit()) return;
    const id = frame['id'];
    if (id === undefined && frame['method'] === 'pong') {
      this.#onPong();
      return;
    }
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
      this.close(DisconnectCode.BadRequest, 'command id must be a positive integer');
      return;
    }
    if (this.#inflight.includes(id)) {
      this.#replyError(id, new ReplyError(ErrorCode.DuplicateId), frame['method']);
      return;
    }
    if (!this.#commandsAllowed()) {
      this.#replyError(id, new ReplyError(ErrorCode.TooManyRequests, 'command rate'), frame['method']);
      return;
    }
    this.#inflight.push(id);
    this.#dispatch(id, frame['method'], frame['params']);
  }

  /**
   * Commands run one at a time in arrival order, except pipelined ones (publish): they wait
   * only for the serial commands before them, so many are in flight to the engine at once
   * (issued in arrival order, hence sequenced in it). Replies always leave in arrival order.
   */
  #dispatch(id: number, method: unknown, params: unknown): void {
    const seq = this.#nextSeq++;
    const def = typeof method === 'string' ? this.node.command(method) : undefined;
    if (def?.pipelined === true) {
      const run = this.#barrier
        .then(() => this.#takeSlot())
        .then(() => this.#run(seq, id, method, params))
        .finally(() => this.#freeSlot());
      this.#chain = Promise.all([this.#chain, run]).then(noop);
      return;
    }
    this.#chain = this.#chain.then(() => this.#run(seq, id, method, params));
    this.#barrier = this.#chain;
  }

  /**
   * A place among the MAX_PIPELINED running pipelined commands. Beyond the window a command
   * waits for the first place freed, in arrival order, so the window stays full under a
   * steady stream instead of draining before the next batch.
   */
  #takeSlot(): Promise<void> | undefined {
    if (this.#pipelined < MAX_PIPELINED && this.#slotWaiters.length === 0) {
      this.#pipelined++;
      return undefined;
    }
    return new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
  }

  /** Hands a finished command's place to the first waiting one, or frees it. */
  #freeSlot(): void {
    const next = this.#slotWaiters.shift();
    if (next) next();
    else this.#pipelined--;
  }

  /** Frames beyond the command rate: refuse a while, then close a connection that keeps flooding. */
  #refused = false;
  #admit(): boolean {
    this.#refused = !this.#commands.take();
    if (!this.#refused) {
      this.#refusedInARow = 0;
      return true;
    }
    this.#refusedInARow++;
    if (this.#refusedInARow > this.node.config.limits.commandsPerSecond * 2) {
      this.node.stats.drop('flood');
      this.close(DisconnectCode.Flood);
      return false;
    }
    return true;
  }

  #commandsAllowed(): boolean {
    if (this.#refused) noteRateRefusal(this, this.node, 'commands');
    return !this.#refused;
  }

  async #run(seq: number, id: number, method: unknown, params: unknown): Promise<void> {
    const started = process.hrtime.bigint();
    let label = 'unknown';
    let reply: Buffer | null = null;
    let ok = false;
    try {
      if (this.closed) return;
      if (typeof method !== 'string') throw new ReplyError(ErrorCode.BadRequest, 'method must be a string');
      const def = this.node.command(method);
      if (!def) throw new ReplyError(ErrorCode.MethodNotFound);
      label = method;
      if (this.state !== 'connected' && !def.beforeConnect) throw new ReplyError(ErrorCode.Unauthorized, 'connect first');
      if (params !== undefined && jsonDepth(params, this.node.config.limits.maxJsonDepth) > this.node.config.limits.maxJsonDepth) {
        throw new ReplyError(ErrorCode.BadRequest, 'nesting too deep');
      }
      const parsed = def.params.safeParse(params ?? {});
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'params';
        throw new ReplyError(ErrorCode.BadRequest, `${where}: ${issue?.message ?? 'invalid'}`.slice(0, 200));
      }
      if (method !== 'ping') this.#markActive();
      const result = await def.handler({ client: this, node: this.node }, parsed.data);
      if (this.closed && !this.#closeAfterReply) return;
      reply = replyFrame(id, result);
      ok = true;
    } catch (err) {
      const replyErr = err instanceof ReplyError ? err : this.node.internalError(err, label);
      this.#countError(replyErr, label);
      if (replyErr.code === ErrorCode.TooManyRequests.code) noteRateRefusal(this, this.node, label);
      reply = errorFrame(id, replyErr);
    } finally {
      const at = this.#inflight.indexOf(id);
      if (at !== -1) this.#inflight.splice(at, 1);
      this.node.observeCommand(label, Number(process.hrtime.bigint() - started) / 1e9);
      this.#reply(seq, reply, ok);
    }
  }

  /** Queue a command's reply (null: none) once every earlier command's reply is out. */
  #reply(seq: number, reply: Buffer | null, ok: boolean): void {
    if (seq !== this.#replySeq) {
      // Only pipelined commands finish out of turn; they have no afterReply work.
      this.#heldReplies.set(seq, reply);
      return;
    }
    this.#send(reply, ok);
    this.#replySeq++;
    while (this.#heldReplies.has(this.#replySeq)) {
      const held = this.#heldReplies.get(this.#replySeq) as Buffer | null;
      this.#heldReplies.delete(this.#replySeq);
      this.#send(held, false);
      this.#replySeq++;
    }
  }

  #send(reply: Buffer | null, ok: boolean): void {
    // afterReply and closeAfterReply belong to serial commands, which run alone.
    const after = this.#afterReply;
    this.#afterReply = null;
    if (reply) {
      this.enqueue(reply);
      if (ok && after) for (const fn of after) fn();
    }
    const pending = this.#closeAfterReply;
    if (pending) {
      this.#closeAfterReply = null;
      this.close(pending);
    }
  }

  #replyError(id: number, err: ReplyError, method: unknown): void {
    this.#countError(err, typeof method === 'string' && this.node.command(method) ? method : 'unknown');
    this.enqueue(errorFrame(id, err));
  }

  /** Every reply error is counted once: by code, for the tenant's traffic, and in the node's error record. */
  #countError(err: ReplyError, command: string): void {
    this.node.stats.error(err.code);
    if (this.#traffic) this.#traffic.errors++;
    this.node.stats.errorLog.record(err.code, this.#identity?.tenant ?? null, 'socket', command, '', err.message, this.id);
  }

  /** Run `fn` right after the current command's reply is queued (commands run one at a time). */
  afterReply(fn: () => void): void {
    this.#afterReply ??= [];
    this.#afterReply.push(fn);
  }

  /** Close the connection right after the reply to the current command. */
  closeAfterReply(info: DisconnectInfo): void {
    this.#closeAfterReply = info;
  }

  // ---- outbound ----
  /** Bytes queued for this connection and not yet written to the network. */
  get backlog(): number {
    return this.#out.backlog;
  }
  pushFeature(feature: string, event: string, data: unknown): void {
    if (data instanceof RawJson) {
      this.enqueue(Buffer.from(`{"push":"feature","feature":${JSON.stringify(feature)},"event":${JSON.stringify(event)},"data":${data.text}}`));
      return;
    }
    this.enqueue(Buffer.from(JSON.stringify({ push: 'feature', feature, event, data })));
  }

  /** Queue one frame; frames queued in one event-loop turn go out as one message. */
  enqueue(bytes: Buffer, droppable = false): void {
    if (this.state === 'closed' && !this.#closeAfterReply) return;
    this.#out.enqueue(bytes, droppable);
  }

  /** Write everything queued as one WebSocket message. */
  flush(): void {
    this.#out.flush();
  }

  /**
   * Hand on a publication of the subscription's stream: the next offset is sent, a repeat is
   * dropped, and anything else (another epoch, a skipped offset) means this subscription
   * missed publications: it is told to resubscribe instead of receiving a silent gap.
   */
  deliverPublication(key: string, d: Delivered): void {
    const sub = this.#subs.get(key);
    if (!sub || sub.hold(d)) return;
    this.#deliverInOrder(key, sub, d);
  }

  /** Whether the subscription is still in step with its stream after this publication (a filtered-out one included). */
  #deliverInOrder(key: string, sub: Subscription, d: Delivered): boolean {
    const frame = sub.take(d);
    if (frame === 'gap') {
      this.node.resubscribe(this, key);
      return false;
    }
    if (frame === null || (this.state === 'closed' && !this.#closeAfterReply)) return true;
    const window = 'pub' in d ? undefined : () => ({ channel: d.channel, window: d.windowFor(sub.filter === null ? null : (p) => sub.matches(p.tags)) });
    this.#out.enqueue(frame, false, key, d.priority, window, sub.stream);
    return true;
  }

  deliverEvent(key: string, bytes: Buffer, droppable: boolean): void {
    const sub = this.#subs.get(key);
    if (!sub || sub.recovering) return;
    if (this.state !== 'closed' || this.#closeAfterReply) this.#out.enqueue(bytes, droppable, key);
  }

  /** After a subscribe reply: deliver publications that arrived while recovering, in order, once. */
  releasePending(sub: Subscription): void {
    const held = sub.release();
    if (this.#subs.get(sub.ch.key) !== sub) return;
    for (const p of held) {
      if (!this.#deliverInOrder(sub.ch.key, sub, p)) return;
    }
  }

  // ---- lifecycle ----

  /** Called by `connect` once the identity is verified and a connection slot is held. */
  markConnected(identity: Identity): void {
    this.#identity = identity;
    this.#state = 'connected';
    this.#wasConnected = true;
    this.#traffic = this.node.tenantViews.trafficOf(identity.tenant);
    this.#out.traffic = this.#traffic;
    this.#handshakeTimer?.cancel();
    this.#handshakeTimer = null;
    this.#schedulePing();
    this.#scheduleExpiry();
    this.#scheduleIdleCheck(this.node.config.timeouts.idle);
  }

  #scheduleExpiry(): void {
    this.#expiryTimer?.cancel();
    const identity = this.#identity;
    if (!identity || !Number.isFinite(identity.expires)) return;
    this.#expiryTimer = this.node.wheel.schedule(validUntil(identity, this.node.config.auth.clockSkew) - this.node.now(), onExpiry, this);
  }

  #schedulePing(): void {
    this.#pingTimer = this.node.wheel.schedule(this.node.config.timeouts.ping, onPingDue, this);
  }

  /** The ping deadline passed: ping, expect a pong, schedule the next ping. */
  ping(): void {
    if (this.closed) return;
    this.enqueue(PING_FRAME);
    this.#pongTimer = this.node.wheel.schedule(this.node.config.timeouts.pong, onNoPong, this);
    this.#schedulePing();
  }

  #onPong(): void {
    this.#pongTimer?.cancel();
    this.#pongTimer = null;
  }

  #markActive(): void {
    this.#lastActivity = this.node.now();
    if (this.#idle) {
      this.#idle = false;
      this.node.presenceStatusChanged(this);
    }
  }

  #scheduleIdleCheck(delay: number): void {
    this.#idleTimer = this.node.wheel.schedule(delay, onIdleCheck, this);
  }

  /** The idle deadline passed: mark the connection idle, or look again when it would be. */
  checkIdle(): void {
    if (this.closed) return;
    const idleFor = this.node.now() - this.#lastActivity;
    const limit = this.node.config.timeouts.idle;
    if (idleFor >= limit && !this.#idle) {
      this.#idle = true;
      this.node.presenceStatusChanged(this);
    }
    this.#scheduleIdleCheck(idleFor >= limit ? limit : limit - idleFor);
  }

  /** Flush what is queued, then close with a documented code. Idempotent. */
  close(info: DisconnectInfo, detail?: string): void {
    if (this.#state === 'closed' && this.#cleaned) return;
    this.#out.flushAll();
    this.#state = 'closed';
    this.node.stats.disconnect(info.code);
    const reason = detail ? `${info.reason}: ${detail}` : info.reason;
    this.ended.record(info.code, reason);
    try {
      this.conn.close(info.code, Buffer.byteLength(reason) > 123 ? info.reason : reason);
    } catch (err) {
      this.node.logger.debug({ err }, 'close failed');
    }
    this.cleanup();
  }

  /**
   * The transport lost the connection without a close handshake (network cut, reset, killed
   * peer): like `cleanup`, and the features hear `onConnectionLost`. Nothing once closed.
   */
  connectionLost(): void {
    if (this.#cleaned) return;
    this.ended.lose();
    this.cleanup();
  }

  /**
   * Release everything this connection holds; called once, on close from either side, with
   * the close code the transport saw (the server's own close already recorded its code).
   */
  cleanup(code?: number, reason = ''): void {
    if (code !== undefined) this.ended.record(code, reason);
    if (this.#cleaned) return;
    this.#cleaned = true;
    this.#state = 'closed';
    for (const t of [this.#handshakeTimer, this.#pingTimer, this.#pongTimer, this.#expiryTimer, this.#idleTimer]) t?.cancel();
    this.#out.clear();
    reportRateRefusals(this, this.node);
    this.node.clientClosed(this);
  }
}
