import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import type { BrokerHandler, ChannelEvent, StreamLoss, StreamPublication } from '../broker.js';
import type { ChannelCount, ControlCommand } from '../control-bus.js';
import type { Engine } from '../engine.js';
import { createMemoryEngine } from '../memory-engine.js';
import { deviceOf, type PresenceEntry } from '../presence-store.js';
import { encodeFrame, FrameReader } from './frames.js';
import { HostSession } from './host-session.js';
import { errorToWire, finite, type HostFrame, infinite, type WorkerFrame } from './wire.js';

export interface InHostEngineHostOptions {
  /** The Unix socket the workers connect to (in a directory only this user can enter). */
  path: string;
  now?: () => number;
  /** Streams never published to that are kept at most (the memory engine's cap; default 100,000). */
  maxIdleStreams?: number;
  /** Whether join/leave events are pushed in a channel (by channel key); default: always. */
  joinLeave?: (channel: string) => boolean;
  /** How long a survey or channel list waits for the workers' answers (ms, default 1000). */
  surveyTimeout?: number;
  /** A worker that reads this far behind (bytes queued to it) is cut off; it reconnects and catches up (default 64 MiB). */
  maxQueuedBytes?: number;
  /**
   * A worker from which nothing arrived for this long (ms, default 15,000) is cut off as if its
   * connection had closed: a hung process (SIGSTOP, a busy loop) keeps its socket open. Workers
   * beat at a third of it.
   */
  heartbeatTimeout?: number;
  logger?: Logger;
}

/** What a worker asks for when it (re)connects: its channels, presence entries and connection slots. */
export interface RestoreRequest {
  channels: string[];
  presence: Array<[string, PresenceEntry]>;
  slots: Array<[string, string, number]>;
}

/** How long a worker may stay silent before it is cut off (ms), unless configured. */
const DEFAULT_HEARTBEAT_TIMEOUT = 15_000;
const BEAT = encodeFrame({ h: 'beat' } satisfies HostFrame);

interface Question {
  waiting: Set<HostSession>;
  answers: Map<HostSession, unknown>;
  done: () => void;
}

/**
 * The sequencing point of the workers of one host: the memory engine's state, served over a
 * Unix socket. A publication is sequenced here once and its frame encoded once, then written
 * to each worker subscribed to the channel — once per worker, never per subscriber. A
 * worker whose socket closes is gone: its presence entries leave (with their events), its
 * connection slots are freed and the survivors are told it is down.
 */
export class InHostEngineHost {
  readonly id = `host-${randomBytes(4).toString('hex')}`;
  readonly #engine: Engine;
  readonly #server: net.Server;
  readonly #options: InHostEngineHostOptions;
  readonly #sessions = new Map<string, HostSession>();
  readonly #accepted = new Set<net.Socket>();
  readonly #subscribers = new Map<string, Set<HostSession>>();
  readonly #questions = new Map<number, Question>();
  readonly #heartbeat: NodeJS.Timeout;
  #nextQuestion = 0;

  private constructor(options: InHostEngineHostOptions) {
    this.#options = options;
    this.#engine = createMemoryEngine(options.now ?? Date.now, options.maxIdleStreams);
    this.#engine.broker.setHandler(this.#fanOut());
    this.#server = net.createServer((socket) => this.#accept(socket));
    const timeout = options.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT;
    this.#heartbeat = setInterval(() => this.#cutSilent(timeout), Math.max(10, Math.floor(timeout / 3)));
    this.#heartbeat.unref();
  }

  /** Listen on `options.path` (a stale socket file left by a dead host is replaced). */
  static async listen(options: InHostEngineHostOptions): Promise<InHostEngineHost> {
    const host = new InHostEngineHost(options);
    rmSync(options.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      host.#server.once('error', reject);
      host.#server.listen(options.path, () => {
        host.#server.off('error', reject);
        resolve();
      });
    });
    return host;
  }

  get path(): string {
    return this.#options.path;
  }

  /** The node ids of the workers connected now. */
  get workers(): string[] {
    return [...this.#sessions.keys()];
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    for (const socket of this.#accepted) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const e = this.#engine;
    await Promise.all([e.broker.close(), e.presence.close(), e.control.close(), e.limits.close(), e.messages.close(), e.leases.close()]);
  }

  #fanOut(): BrokerHandler {
    return {
      onPublication: (channel: string, pub: StreamPublication, epoch: string) => {
        const subscribers = this.#subscribers.get(channel);
        if (!subscribers) return;
        const { data, ...meta } = pub;
        // Encoded once, the same bytes written to every subscribed worker.
        const frame = encodeFrame({ p: 'pub', c: channel, e: epoch, m: meta } satisfies HostFrame, data);
        for (const session of subscribers) session.write(frame);
      },
      onEvent: (channel: string, event: ChannelEvent) => this.#toSubscribers(channel, { p: 'ev', c: channel, v: event }),
      onStreamLost: (channel: string, loss: StreamLoss) => this.#toSubscribers(channel, { p: 'lost', c: channel, l: loss }),
    };
  }

  #toSubscribers(channel: string, frame: HostFrame): void {
    const subscribers = this.#subscribers.get(channel);
    if (!subscribers) return;
    const bytes = encodeFrame(frame);
    for (const session of subscribers) session.write(bytes);
  }

  #toAll(frame: HostFrame): void {
    const bytes = encodeFrame(frame);
    for (const session of this.#sessions.values()) session.write(bytes);
  }

  /** Workers silent for longer than `timeout` are gone, as if their connection had closed. */
  #cutSilent(timeout: number): void {
    const now = Date.now();
    for (const session of [...this.#sessions.values()]) {
      if (now - session.lastHeard <= timeout) continue;
      this.#options.logger?.warn({ node: session.node, silentMs: now - session.lastHeard }, 'in-host engine: a worker stopped answering; cutting it off');
      this.#gone(session, true);
    }
  }

  #accept(socket: net.Socket): void {
    this.#accepted.add(socket);
    const reader = new FrameReader();
    let session: HostSession | null = null;
    socket.on('data', (chunk: Buffer) => {
      if (session) session.lastHeard = Date.now();
      let frames: ReturnType<FrameReader['push']>;
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.#options.logger?.warn({ err }, 'in-host engine: unreadable frame from a worker; closing its connection');
        socket.destroy();
        return;
      }
      for (const { header, body } of frames) {
        if (socket.destroyed) return;
        const frame = header as WorkerFrame;
        if (session === null) {
          if (!('h' in frame) || frame.h !== 'hello' || typeof frame.node !== 'string') {
            socket.destroy();
            return;
          }
          session = this.#open(frame.node, socket);
        } else if ('q' in frame) this.#request(session, frame, body);
        else if ('h' in frame && frame.h === 'beat') session.write(BEAT);
        else if ('a' in frame) this.#answer(session, frame.a, frame.v);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#accepted.delete(socket);
      if (session) this.#gone(session, true);
    });
  }

  #open(node: string, socket: net.Socket): HostSession {
    // The same worker again while its old connection has not closed yet: the old one is over.
    const old = this.#sessions.get(node);
    if (old) this.#gone(old, false);
    const session = new HostSession(node, socket, this.#options.maxQueuedBytes ?? 64 * 1024 * 1024);
    this.#sessions.set(node, session);
    session.write(encodeFrame({ h: 'welcome', host: this.id } satisfies HostFrame));
    return session;
  }

  /** A worker left: undo what it held; survivors hear of it (`announce`: not when it came back on a new connection). */
  #gone(session: HostSession, announce: boolean): void {
    if (!session.open) return;
    session.end();
    if (this.#sessions.get(session.node) === session) this.#sessions.delete(session.node);
    for (const channel of session.channels) this.#unsubscribe(session, channel);
    for (const question of this.#questions.values()) {
      if (question.waiting.delete(session) && question.waiting.size === 0) question.done();
    }
    void this.#sweep(session).finally(() => {
      if (announce && !this.#sessions.has(session.node)) this.#toAll({ p: 'down', n: session.node });
    });
  }

  /** A departed worker's presence entries leave (each leave event once) and its connection slots are freed. */
  async #sweep(session: HostSession): Promise<void> {
    const e = this.#engine;
    try {
      for (const [channel, client] of session.takePresence()) {
        const removed = await e.presence.remove(channel, client);
        if (removed && this.#joinLeave(channel)) await e.broker.publishEvent(channel, { kind: 'leave', user: removed.user, device: deviceOf(removed) });
      }
      for (const [tenant, user, count] of session.takeSlots()) for (let i = 0; i < count; i++) await e.limits.releaseConnection(tenant, user);
    } catch (err) {
      this.#options.logger?.warn({ err, node: session.node }, 'in-host engine: sweeping a departed worker failed');
    }
  }

  #joinLeave(channel: string): boolean {
    return this.#options.joinLeave?.(channel) ?? true;
  }

  #request(session: HostSession, frame: { q: number; m: string; a: unknown[] }, body: string | undefined): void {
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(this.#call(session, frame.m, Array.isArray(frame.a) ? frame.a : [], body));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (v) => session.write(encodeFrame((v === undefined ? { r: frame.q } : { r: frame.q, v }) satisfies HostFrame)),
      (err: unknown) => session.write(encodeFrame({ r: frame.q, x: errorToWire(err) } satisfies HostFrame)),
    );
  }

  #call(session: HostSession, method: string, a: unknown[], body: string | undefined): unknown {
    const { broker, presence, limits, leases } = this.#engine;
    const s = (i: number) => a[i] as string;
    const n = (i: number) => a[i] as number;
    switch (method) {
      case 'subscribe':
        return this.#subscribe(session, s(0));
      case 'unsubscribe':
        return this.#unsubscribe(session, s(0));
      case 'publish':
        return broker.publish(s(0), body ?? '', a[1] as Parameters<typeof broker.publish>[2]);
      case 'publishEvent':
        return broker.publishEvent(s(0), a[1] as ChannelEvent);
      case 'history':
        return broker.history(s(0), a[1] as Parameters<typeof broker.history>[1]);
      case 'removeHistory':
        return broker.removeHistory(s(0));
      case 'presence.set':
        return this.#setPresence(session, s(0), a[1] as PresenceEntry, infinite(a[2]));
      case 'presence.remove':
        return this.#removePresence(s(0), s(1));
      case 'presence.get':
        return presence.get(s(0));
      case 'presence.counts':
        return presence.counts(s(0));
      case 'control.publish':
        return this.#toAll({ p: 'cmd', v: a[0] as ControlCommand });
      case 'control.channels':
        return this.#channels(session, s(0), s(1));
      case 'control.survey':
        return this.#ask(session, 'survey', { kind: s(0), request: a[1] ?? null }).then(({ answered, complete }) => ({
          answers: answered.filter((v) => v !== undefined),
          nodes: answered.length,
          complete,
        }));
      case 'limits.acquire':
        return this.#acquire(session, s(0), s(1), infinite(a[2]), infinite(a[3]));
      case 'limits.release':
        return session.releaseSlot(s(0), s(1)) ? limits.releaseConnection(s(0), s(1)) : undefined;
      case 'limits.usage':
        return limits.tenantUsage(s(0));
      case 'limits.take':
        return limits.take(s(0), infinite(a[1]), infinite(a[2]), n(3));
      case 'limits.takeOrWait':
        return limits.takeOrWait(s(0), infinite(a[1]), infinite(a[2]), n(3)).then(finite);
      case 'notify':
        return this.#notify(session, s(0), a[1] ?? null, a[2]);
      case 'lease.acquire':
        return leases.acquire(s(0), n(1), s(2));
      case 'lease.queue':
        return leases.queue(s(0), n(1), s(2), n(3), a[4] === true);
      case 'lease.leave':
        return leases.leave(s(0), s(1));
      case 'lease.renew':
        return leases.renew(s(0), n(1), n(2));
      case 'lease.release':
        return leases.release(s(0), n(1));
      case 'lease.get':
        return leases.get(s(0));
      case 'restore':
        return this.#restore(session, a[0] as RestoreRequest);
      default:
        throw new TypeError(`unknown in-host engine method ${method}`);
    }
  }

  async #subscribe(session: HostSession, channel: string): Promise<void> {
    session.channels.add(channel);
    let set = this.#subscribers.get(channel);
    if (!set) {
      set = new Set();
      this.#subscribers.set(channel, set);
      await this.#engine.broker.subscribe(channel);
    }
    set.add(session);
  }

  async #unsubscribe(session: HostSession, channel: string): Promise<void> {
    session.channels.delete(channel);
    const set = this.#subscribers.get(channel);
    if (!set?.delete(session) || set.size > 0) return;
    this.#subscribers.delete(channel);
    await this.#engine.broker.unsubscribe(channel);
  }

  async #setPresence(session: HostSession, channel: string, entry: PresenceEntry, max: number) {
    const result = await this.#engine.presence.set(channel, entry, max);
    if (result !== 'full') session.ownPresence(channel, entry.client, this.#sessions.values());
    return result;
  }

  async #removePresence(channel: string, client: string) {
    for (const s of this.#sessions.values()) s.disownPresence(channel, client);
    return this.#engine.presence.remove(channel, client);
  }

  async #acquire(session: HostSession, tenant: string, user: string, perUser: number, perTenant: number) {
    const result = await this.#engine.limits.acquireConnection(tenant, user, perUser, perTenant);
    if (result === 'ok') session.holdSlot(tenant, user);
    return result;
  }

  #notify(session: HostSession, op: string, data: unknown, to: unknown): void {
    const frame: HostFrame = { p: 'note', o: op, d: data, f: session.node };
    if (typeof to === 'string') this.#sessions.get(to)?.write(encodeFrame(frame));
    else this.#toAll(frame);
  }

  async #channels(session: HostSession, tenant: string, prefix: string) {
    const { answered, complete } = await this.#ask(session, 'channels', { tenant, prefix });
    const sums = new Map<string, number>();
    for (const list of answered) {
      if (!Array.isArray(list)) continue;
      for (const c of list as ChannelCount[]) sums.set(c.channel, (sums.get(c.channel) ?? 0) + c.subscribers);
    }
    const channels = [...sums].map(([channel, subscribers]) => ({ channel, subscribers }));
    return { channels, nodes: answered.length, complete };
  }

  /** Ask every worker: the answers of those that answered within the survey timeout, the asking one first. */
  #ask(asker: HostSession, kind: 'channels' | 'survey', request: unknown): Promise<{ answered: unknown[]; complete: boolean }> {
    const q = ++this.#nextQuestion;
    const workers = [asker, ...[...this.#sessions.values()].filter((s) => s !== asker && s.open)];
    const answers = new Map<HostSession, unknown>();
    return new Promise((resolve) => {
      const timer = setTimeout(() => question.done(), this.#options.surveyTimeout ?? 1000);
      const question: Question = {
        waiting: new Set(workers),
        answers,
        done: () => {
          clearTimeout(timer);
          this.#questions.delete(q);
          const answered = workers.filter((w) => answers.has(w)).map((w) => answers.get(w));
          resolve({ answered, complete: question.waiting.size === 0 });
        },
      };
      this.#questions.set(q, question);
      const frame = encodeFrame({ p: 'ask', q, k: kind, v: request } satisfies HostFrame);
      for (const w of workers) w.write(frame);
    });
  }

  #answer(session: HostSession, q: number, v: unknown): void {
    const question = this.#questions.get(q);
    if (!question?.waiting.delete(session)) return;
    question.answers.set(session, v);
    if (question.waiting.size === 0) question.done();
  }

  async #restore(session: HostSession, state: RestoreRequest): Promise<void> {
    for (const channel of state.channels ?? []) await this.#subscribe(session, channel);
    for (const [channel, entry] of state.presence ?? []) {
      const result = await this.#setPresence(session, channel, entry, Number.POSITIVE_INFINITY);
      if (result === 'new' && this.#joinLeave(channel))
        await this.#engine.broker.publishEvent(channel, { kind: 'join', user: entry.user, device: deviceOf(entry) });
    }
    for (const [tenant, user, count] of state.slots ?? []) {
      for (let i = 0; i < count; i++) await this.#acquire(session, tenant, user, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
    }
  }
}
