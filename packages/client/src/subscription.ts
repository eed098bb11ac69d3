import {
  DisconnectCode,
  ErrorCode,
  type JoinPush,
  type LeavePush,
  type MethodMap,
  type MethodName,
  type PresenceMember,
  type PresenceStatsResult,
  type Publication,
  type PublishResult,
  type PubPush,
  type PubsPush,
  type SignalPush,
  type StreamPosition,
  type SubscribeParams,
  type SubscribeResult,
  shouldReconnect,
  type UnsubscribePush,
  type UpdatePush,
} from '@switchboard/protocol';
import { backoffDelay } from './backoff.js';
import { ClientCode, reasonOf, type StateReason } from './codes.js';
import { DeltaDecoder } from './delta.js';
import { Emitter } from './emitter.js';
import { SwitchboardError } from './errors.js';
import type { PresenceEvent, SubscriptionEvents, SubscriptionState } from './events.js';
import type { ResolvedOptions } from './options.js';
import type { CommandCallbacks } from './pending-commands.js';
import { SignalThrottle } from './signal-throttle.js';
import type { HistoryOptions, HistoryPage, PublishOptions, SubscribeOptions, Subscription } from './subscription-api.js';
import { TimerSlot } from './timers.js';

export type { HistoryOptions, HistoryPage, PublishOptions, SubscribeOptions, Subscription };

/** Pushes addressed to one channel. */
export type ChannelPush = PubPush | PubsPush | JoinPush | LeavePush | UpdatePush | SignalPush | UnsubscribePush;

/** What a subscription needs from its client. */
export interface SubscriptionHost {
  readonly options: ResolvedOptions;
  isConnected(): boolean;
  /** Send a command now. When the connection is gone, `onError` gets ConnectionClosed. */
  request<M extends MethodName>(method: M, params: MethodMap[M][0], callbacks: CommandCallbacks<MethodMap[M][1]>): void;
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<PublishResult>;
  /** Forget this subscription (it ended). */
  remove(channel: string, subscription: object): void;
}

interface Waiter {
  resolve(): void;
  reject(error: SwitchboardError): void;
}

const ignore: CommandCallbacks = { onResult() {}, onError() {} };
const noop = (): void => {};

function isConnectionClosed(error: SwitchboardError): boolean {
  return error.code === ClientCode.ConnectionClosed.code;
}

/**
 * The subscription state machine: `unsubscribed → subscribing → subscribed`, back to
 * `subscribing` when the connection drops, and recovery from the last seen offset.
 * The client drives it through `start`, `handleConnected`, `handleConnectionLost`
 * and `handlePush`; applications see the `Subscription` interface only.
 */
export class ChannelSubscription<T = unknown, P = unknown> extends Emitter<SubscriptionEvents<T, P>> implements Subscription<T, P> {
  readonly channel: string;
  readonly #host: SubscriptionHost;
  readonly #retry: TimerSlot;
  readonly #throttle: SignalThrottle;
  #state: SubscriptionState = 'unsubscribed';
  /** Features whose state of the channel each subscribe asks for. */
  readonly #wanted: Set<string>;
  /** Bumped whenever in-flight replies stop being relevant. */
  #gen = 0;
  #attempt = 0;
  #recoverable = false;
  #position: StreamPosition | null = null;
  /** Non-null while a subscribe is in flight: publications that arrive before its reply. */
  #buffer: Array<PubPush | PubsPush> | null = null;
  #presence: { state: P } | null = null;
  #presenceWaiters: Waiter[] = [];
  #info: unknown;
  /** Set while the server delivers this subscription's publications as JSON text and deltas. */
  #delta: DeltaDecoder | null = null;

  constructor(
    channel: string,
    host: SubscriptionHost,
    readonly options: SubscribeOptions = {},
  ) {
    super();
    this.channel = channel;
    this.#host = host;
    const { timers, now, signalInterval } = host.options;
    this.#retry = new TimerSlot(timers);
    this.#throttle = new SignalThrottle(signalInterval, timers, now, (key, data) => this.#sendSignal(key, data));
    this.#wanted = new Set(options.state);
  }

  /** Add features whose state the next subscribe replies carry (`options.state`). */
  wantState(names: readonly string[]): void {
    for (const name of names) this.#wanted.add(name);
  }

  get state(): SubscriptionState {
    return this.#state;
  }

  /**
   * Made by the server (the token's `subs`, the HTTP API): at each reconnect the client
   * names its position in `connect` and the server restores it with a `subscribe` push,
   * instead of the client sending `subscribe`.
   */
  serverSide = false;

  /** Where a server-side subscription resumes at the next connect (none: from the stream's end). */
  get resumeFrom(): StreamPosition | undefined {
    return this.#recoverable && this.#position !== null ? { ...this.#position } : undefined;
  }

  /** The server subscribed this connection (`subscribe` push): applied like a subscribe reply. */
  handleServerSubscribe(result: SubscribeResult): void {
    this.#retry.clear();
    this.#gen++;
    this.#buffer = [];
    if (this.#state === 'unsubscribed') this.#setState('subscribing', reasonOf(ClientCode.SubscribeCalled));
    this.#onSubscribed(result, result.recovered !== undefined);
  }

  /** The server refused to subscribe this connection (`subscribe` push with an error): the subscription ends. */
  handleServerRefusal(error: SwitchboardError): void {
    this.emit('error', { channel: this.channel, error, during: 'subscribe' });
    this.#end({ code: error.code, reason: error.message });
  }

  /**
   * What the server's last subscribe reply said of this subscription (the app's backend
   * gives it through the subscribe hook), or undefined.
   *
   * @example
   * sub.on('subscribed', () => render(sub.info));
   */
  get info(): unknown {
    return this.#info;
  }

  /** Begin subscribing (the client calls this once, right after creating it). */
  start(): void {
    if (this.#state !== 'unsubscribed') return;
    this.#setState('subscribing', reasonOf(ClientCode.SubscribeCalled));
    if (this.state === 'subscribing' && this.#host.isConnected()) this.#subscribe(false, noop);
  }

  /** The client connected: (re)subscribe. `done` is called once the attempt settles. */
  handleConnected(done: () => void): void {
    // A server-side subscription comes back with the server's `subscribe` push.
    if (this.serverSide || this.#state !== 'subscribing' || this.#buffer !== null) {
      done();
      return;
    }
    this.#retry.clear();
    this.#subscribe(false, done);
  }

  /** The connection dropped: wait in `subscribing` for the next one. */
  handleConnectionLost(info: StateReason): void {
    this.#gen++;
    this.#buffer = null;
    this.#retry.clear();
    this.#throttle.clear();
    if (this.#state === 'subscribed') this.#setState('subscribing', info);
  }

  handlePush(push: ChannelPush): void {
    switch (push.push) {
      case 'pub':
        if (this.#buffer !== null) this.#buffer.push(push);
        else this.#deliver(push);
        return;
      case 'pubs':
        if (this.#buffer !== null) this.#buffer.push(push);
        else this.#deliverWindow(push);
        return;
      case 'join':
      case 'leave':
      case 'update':
        if (this.#state !== 'subscribed') return;
        this.emit(push.push, { channel: this.channel, user: push.user, device: push.device } as PresenceEvent<P>);
        return;
      case 'signal':
        if (this.#state !== 'subscribed') return;
        this.emit('signal', { channel: this.channel, from: push.from, key: push.key, data: push.data });
        return;
      case 'unsubscribe':
        this.#onServerUnsubscribe(push);
        return;
    }
  }

  publish(data: T, options?: PublishOptions): Promise<PublishResult> {
    return this.#host.publish(this.channel, data, options);
  }

  async history(options: HistoryOptions = {}): Promise<HistoryPage<T>> {
    await this.#ready();
    const result = await this.#command('history', { ...options, channel: this.channel });
    return result as HistoryPage<T>;
  }

  async presence(): Promise<PresenceMember<P>[]> {
    await this.#ready();
    const result = await this.#command('presence', { channel: this.channel });
    return result.members as PresenceMember<P>[];
  }

  async presenceStats(): Promise<PresenceStatsResult> {
    await this.#ready();
    return this.#command('presence_stats', { channel: this.channel });
  }

  enterPresence(state: P): Promise<void> {
    return this.#setPresence(state);
  }

  updatePresence(state: P): Promise<void> {
    return this.#setPresence(state);
  }

  leavePresence(): Promise<void> {
    this.#presence = null;
    for (const waiter of this.#takePresenceWaiters()) waiter.resolve();
    if (this.#state !== 'subscribed') return Promise.resolve();
    return this.#command('presence_leave', { channel: this.channel }).then(noop);
  }

  signal(key: string, data?: unknown): void {
    if (this.#state !== 'subscribed') return;
    this.#throttle.push(key, data);
  }

  unsubscribe(): void {
    if (this.#state === 'unsubscribed') return;
    // Sent before the state event, so a listener that subscribes again is ordered after it.
    const serverHasIt = this.#host.isConnected() && (this.#state === 'subscribed' || this.#buffer !== null);
    if (serverHasIt) this.#host.request('unsubscribe', { channel: this.channel }, ignore);
    this.#end(reasonOf(ClientCode.UnsubscribeCalled));
  }

  #subscribe(wasRecovering: boolean, done: () => void): void {
    const gen = ++this.#gen;
    const recover = this.#recoverable && this.#position !== null ? { ...this.#position } : undefined;
    const recovering = wasRecovering || recover !== undefined;
    const { filter, delta } = this.options;
    const params: SubscribeParams = {
      channel: this.channel,
      ...(recover ? { recover } : {}),
      ...(filter ? { filter } : {}),
      ...(delta ? { delta } : {}),
      ...(this.#wanted.size > 0 ? { state: [...this.#wanted] } : {}),
    };
    this.#buffer = [];
    this.#host.request('subscribe', params, {
      onResult: (result) => {
        if (gen === this.#gen) this.#onSubscribed(result, recovering);
        done();
      },
      onError: (error) => {
        if (gen === this.#gen) this.#onSubscribeError(error, recovering, done);
        else done();
      },
    });
  }

  #onSubscribed(result: SubscribeResult, wasRecovering: boolean): void {
    const gen = this.#gen;
    const buffered = this.#buffer ?? [];
    this.#buffer = null;
    this.#attempt = 0;
    const recovered = wasRecovering && result.recovered === true && this.#position !== null;
    this.#recoverable = result.recoverable === true;
    this.#info = result.info;
    this.#delta = result.delta === true ? new DeltaDecoder() : null;
    const from = recovered && this.#position !== null ? this.#position.offset : result.offset;
    this.#position = { epoch: result.epoch, offset: from };
    this.#setState('subscribed', reasonOf(ClientCode.Subscribed), {
      epoch: result.epoch,
      offset: result.offset,
      recoverable: this.#recoverable,
      wasRecovering,
      recovered,
      ...(result.info !== undefined ? { info: result.info } : {}),
      ...(result.state !== undefined ? { state: result.state } : {}),
    });
    if (recovered) {
      // A conflated namespace recovers the latest per key: its offsets skip by design, the reply's offset covers them.
      for (const publication of result.publications ?? []) {
        if (gen !== this.#gen) return;
        this.#deliver(publication, result.conflated === true);
      }
    }
    if (gen !== this.#gen || this.#position === null) return;
    if (result.offset > this.#position.offset) this.#position.offset = result.offset;
    for (const publication of buffered) {
      if (gen !== this.#gen) return;
      if (publication.push === 'pubs') this.#deliverWindow(publication);
      else this.#deliver(publication);
    }
    if (gen === this.#gen && this.#presence !== null) this.#syncPresence();
  }

  #onSubscribeError(error: SwitchboardError, wasRecovering: boolean, done: () => void): void {
    this.#buffer = null;
    // The client calls handleConnectionLost and resubscribes on the next connection.
    if (isConnectionClosed(error)) {
      done();
      return;
    }
    if (error.code === ErrorCode.UnrecoverablePosition.code && wasRecovering) {
      this.#position = null;
      this.#subscribe(true, done);
      return;
    }
    const alreadySubscribed = error.code === ErrorCode.AlreadySubscribed.code;
    // A subscribe that timed out may have landed: drop it server-side, then retry.
    if (alreadySubscribed) this.#host.request('unsubscribe', { channel: this.channel }, ignore);
    const gen = this.#gen;
    this.emit('error', { channel: this.channel, error, during: 'subscribe' });
    if (gen !== this.#gen) {
      done();
      return;
    }
    if (error.temporary || alreadySubscribed) this.#scheduleResubscribe();
    else this.#end({ code: error.code, reason: error.message });
    done();
  }

  #onServerUnsubscribe(push: UnsubscribePush): void {
    if (this.#state === 'unsubscribed') return;
    const info = { code: push.code, reason: push.reason };
    if (!shouldReconnect(push.code)) {
      this.#end(info);
      return;
    }
    this.#gen++;
    this.#buffer = null;
    this.#throttle.clear();
    this.#setState('subscribing', info);
    if (this.#state === 'subscribing') this.#scheduleResubscribe();
  }

  /** Drop the server's subscription and subscribe again at once, recovering from the last position. */
  #resync(): void {
    this.#gen++;
    this.#buffer = null;
    this.#throttle.clear();
    const connected = this.#host.isConnected();
    // Commands run in order on the server: the unsubscribe lands before the subscribe.
    if (connected) this.#host.request('unsubscribe', { channel: this.channel }, ignore);
    const { code, reason } = DisconnectCode.InsufficientState;
    this.#setState('subscribing', { code, reason });
    if (this.#state === 'subscribing' && connected) this.#subscribe(false, noop);
  }

  #scheduleResubscribe(): void {
    const { backoff, random } = this.#host.options;
    this.#retry.set(backoffDelay(this.#attempt++, backoff, random), () => {
      if (this.#state === 'subscribing' && this.#buffer === null && this.#host.isConnected()) this.#subscribe(false, noop);
    });
  }

  /**
   * Deliver one publication unless it was already delivered (offset at or below the last
   * seen). One of another epoch, or one that skips offsets, means publications were missed:
   * subscribe again with recovery rather than deliver across a silent gap. A filtered
   * subscription's offsets skip by design (the server checks the stream for it), and so do
   * those of a conflation window or a conflated recovery (`covered`: a range that holds them).
   */
  #deliver(publication: Publication & { epoch?: string; push?: 'pub' }, covered = false): void {
    if (this.#state !== 'subscribed' || this.#position === null) return;
    const { offset, epoch } = publication;
    if (typeof epoch === 'string' && epoch !== this.#position.epoch) {
      this.#resync();
      return;
    }
    if (typeof offset === 'number' && offset > 0) {
      if (offset <= this.#position.offset) return;
      if (offset > this.#position.offset + 1 && this.options.filter === undefined && !covered) {
        this.#resync();
        return;
      }
    }
    // A live push of a delta subscription carries JSON text or a delta; one that cannot be rebuilt is a gap.
    const data = this.#delta !== null && publication.push === 'pub' ? this.#delta.decode(publication as PubPush) : publication.data;
    if (data === undefined) {
      this.#resync();
      return;
    }
    if (typeof offset === 'number' && offset > 0) this.#position.offset = offset;
    const { info, tags } = publication;
    const event = { channel: this.channel, offset, time: publication.time, data: data as T };
    this.emit('publication', info === undefined && tags === undefined ? event : { ...event, ...(info ? { info } : {}), ...(tags ? { tags } : {}) });
  }

  /**
   * A conflation window (offsets `after + 1 … offset`): one that starts past the position (or
   * in another epoch) is a gap; otherwise its publications past the position are delivered and
   * the position moves to the window's end, so recovery resumes from there.
   */
  #deliverWindow(push: PubsPush): void {
    if (this.#state !== 'subscribed' || this.#position === null) return;
    if (push.epoch !== this.#position.epoch || push.after > this.#position.offset) {
      this.#resync();
      return;
    }
    if (push.offset <= this.#position.offset) return;
    const gen = this.#gen;
    for (const publication of push.publications) {
      if (gen !== this.#gen) return;
      this.#deliver(publication, true);
    }
    if (gen === this.#gen && this.#position !== null && push.offset > this.#position.offset) this.#position.offset = push.offset;
  }

  #setPresence(state: P): Promise<void> {
    if (this.#state === 'unsubscribed') return Promise.reject(SwitchboardError.of(ClientCode.SubscriptionUnsubscribed));
    this.#presence = { state };
    const settled = new Promise<void>((resolve, reject) => this.#presenceWaiters.push({ resolve, reject }));
    if (this.#state === 'subscribed') this.#syncPresence();
    return settled;
  }

  /** Send the remembered presence state; settles the calls waiting for it. */
  #syncPresence(): void {
    if (this.#presence === null) return;
    const waiters = this.#takePresenceWaiters();
    this.#host.request(
      'presence_set',
      { channel: this.channel, state: this.#presence.state },
      {
        onResult: () => {
          for (const waiter of waiters) waiter.resolve();
        },
        onError: (error) => {
          // Entered again after the resubscribe; the callers wait for that.
          if (isConnectionClosed(error) && this.#presence !== null) {
            this.#presenceWaiters.push(...waiters);
            return;
          }
          if (waiters.length === 0 && !isConnectionClosed(error)) {
            this.emit('error', { channel: this.channel, error, during: 'presence' });
          }
          for (const waiter of waiters) waiter.reject(error);
        },
      },
    );
  }

  #takePresenceWaiters(): Waiter[] {
    const waiters = this.#presenceWaiters;
    this.#presenceWaiters = [];
    return waiters;
  }

  #sendSignal(key: string, data: unknown): void {
    if (this.#state !== 'subscribed' || !this.#host.isConnected()) return;
    this.#host.request(
      'signal',
      { channel: this.channel, key, data },
      {
        onResult() {},
        onError: (error) => {
          if (!isConnectionClosed(error)) this.emit('error', { channel: this.channel, error, during: 'signal' });
        },
      },
    );
  }

  /** Wait until subscribed, at most `commandTimeout`. */
  #ready(): Promise<void> {
    if (this.#state === 'subscribed') return Promise.resolve();
    if (this.#state === 'unsubscribed') return Promise.reject(SwitchboardError.of(ClientCode.SubscriptionUnsubscribed));
    return new Promise((resolve, reject) => {
      const timer = new TimerSlot(this.#host.options.timers);
      const off = this.on('state', (event) => {
        if (event.state === 'subscribing') return;
        off();
        timer.clear();
        if (event.state === 'subscribed') resolve();
        else reject(SwitchboardError.of(ClientCode.SubscriptionUnsubscribed));
      });
      const { commandTimeout } = this.#host.options;
      if (commandTimeout <= 0) return;
      timer.set(commandTimeout, () => {
        off();
        reject(SwitchboardError.of(ClientCode.Timeout, 'waiting for the subscription'));
      });
    });
  }

  #command<M extends MethodName>(method: M, params: MethodMap[M][0]): Promise<MethodMap[M][1]> {
    return new Promise((resolve, reject) => this.#host.request(method, params, { onResult: resolve, onError: reject }));
  }

  /** Terminal: unsubscribed, forgotten by the client, presence dropped. */
  #end(info: StateReason): void {
    this.#gen++;
    this.#buffer = null;
    this.#retry.clear();
    this.#throttle.clear();
    this.#presence = null;
    const error = SwitchboardError.of(ClientCode.SubscriptionUnsubscribed);
    for (const waiter of this.#takePresenceWaiters()) waiter.reject(error);
    this.#host.remove(this.channel, this);
    this.#setState('unsubscribed', info);
  }

  #setState(
    next: SubscriptionState,
    info: StateReason,
    subscribed?: {
      epoch: string;
      offset: number;
      recoverable: boolean;
      wasRecovering: boolean;
      recovered: boolean;
      info?: unknown;
      state?: Record<string, unknown>;
    },
  ): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    const base = { channel: this.channel, code: info.code, reason: info.reason };
    this.emit('state', { ...base, state: next, previous });
    if (this.#state !== next) return;
    if (next === 'subscribed' && subscribed !== undefined) this.emit('subscribed', { ...base, ...subscribed });
    else if (next === 'subscribing') this.emit('subscribing', base);
    else if (next === 'unsubscribed') this.emit('unsubscribed', base);
  }
}
