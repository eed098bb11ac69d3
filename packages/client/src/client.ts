import {
  type ConnectParams,
  type ConnectResult,
  DisconnectCode,
  ErrorCode,
  type MethodMap,
  type MethodName,
  type PublishResult,
  parseChannel,
  type ServerFrame,
  shouldReconnect,
} from '@switchboard/protocol';
import { backoffDelay, shutdownJitter } from './backoff.js';
import { type ClientMetrics, clientMetrics } from './client-metrics.js';
import { ClientCode, reasonOf, type StateReason } from './codes.js';
import { Connection } from './connection.js';
import { type AfterLoss, Credentials } from './credentials.js';
import { Emitter } from './emitter.js';
import { SwitchboardError, toError } from './errors.js';
import type { ClientErrorEvent, ClientEvents, ClientState, Session } from './events.js';
import { type ClientModule, type FeatureHost, FeatureModules } from './feature-module.js';
import { FeaturePushes, type FeaturePushListener } from './feature-pushes.js';
import { Heartbeat } from './heartbeat.js';
import { OfflineQueue } from './offline-queue.js';
import { type ClientOptions, type ResolvedOptions, resolveOptions, type TransportName } from './options.js';
import { type CommandCallbacks, PendingCommands } from './pending-commands.js';
import { refusalReason } from './refusal-probe.js';
import { callRpc } from './rpc.js';
import { applySubscribePush, resumePositions } from './server-subscriptions.js';
import { type ChannelPush, ChannelSubscription, type PublishOptions, type SubscribeOptions, type Subscription, type SubscriptionHost } from './subscription.js';
import { TimerSlot } from './timers.js';
import { TokenRefresher } from './token-refresher.js';
import { TransportChoice } from './transport-choice.js';

/** A publish waiting for (or in flight on) a connection. Its key survives reconnects. */
interface QueuedPublish {
  channel: string;
  data: unknown;
  /** `tags` and `priority`, sent as given. */
  options: PublishOptions;
  idempotencyKey: string;
  resolve(result: PublishResult): void;
  reject(error: SwitchboardError): void;
}

const ignore: CommandCallbacks = { onResult() {}, onError() {} };

/**
 * The Switchboard client: one WebSocket, automatic reconnect with backoff, channel
 * subscriptions with recovery, an offline publish queue and token refresh.
 *
 * @example
 * // Browser
 * const client = new SwitchboardClient('wss://rt.example.com/ws', { getToken: fetchToken });
 * // Node 20: import WebSocket from 'ws';
 * // const client = new SwitchboardClient(url, { token, WebSocket });
 * client.on('state', (e) => showStatus(e.state, e.code, e.reason));
 * const room = client.subscribe<{ text: string }>('chat:lobby');
 * room.on('publication', (p) => render(p.data.text));
 * client.connect();
 */
export class SwitchboardClient extends Emitter<ClientEvents> implements FeatureHost {
  readonly #url: string;
  readonly #options: ResolvedOptions;
  readonly #pending: PendingCommands<QueuedPublish>;
  readonly #queue: OfflineQueue<QueuedPublish>;
  readonly #subs = new Map<string, ChannelSubscription>();
  readonly #featurePushes = new FeaturePushes();
  /** Instances of SDK feature modules, by module key. */
  readonly #modules = new FeatureModules(this);
  readonly #host: SubscriptionHost;
  readonly #heartbeat: Heartbeat;
  readonly #connectTimer: TimerSlot;
  readonly #reconnectTimer: TimerSlot;
  readonly #refresher: TokenRefresher;
  #state: ClientState = 'disconnected';
  #conn: Connection | null = null;
  readonly #transports: TransportChoice;
  /** The transport of the current attempt. */
  #transport: TransportName = 'websocket';
  /** Bumped on every new connection attempt and every loss; stale callbacks compare it. */
  #gen = 0;
  /** Failed attempts since the last successful connect. */
  #attempt = 0;
  #nextId = 0;
  readonly #credentials: Credentials;
  #session: Session | null = null;
  /** Queued publishes were flushed on this connection; new ones may go straight out. */
  #publishOpen = false;
  #status: 'online' | 'away' = 'online';

  /**
   * Create a client. Nothing happens until `connect()`.
   *
   * @example
   * import WebSocket from 'ws';
   * const client = new SwitchboardClient('ws://localhost:8000/ws', {
   *   getToken: async () => (await fetch('/api/realtime-token')).text(),
   *   WebSocket,
   * });
   */
  constructor(url: string, options: ClientOptions = {}) {
    super();
    this.#url = url;
    this.#options = resolveOptions(url, options);
    const { timers, now } = this.#options;
    this.#credentials = new Credentials(this.#options);
    this.#pending = new PendingCommands(timers);
    this.#queue = new OfflineQueue(this.#options.offlineQueueSize, (size) => this.emit('offlineQueue', { size }));
    this.#heartbeat = new Heartbeat(timers, now, () => this.#lose(reasonOf(ClientCode.NoPing)));
    this.#connectTimer = new TimerSlot(timers);
    this.#reconnectTimer = new TimerSlot(timers);
    this.#refresher = new TokenRefresher(timers, this.#credentials, {
      generation: () => this.#gen,
      request: (token, callbacks) => this.#request('refresh', { token }, callbacks),
      emitError: (event, gen) => this.#emitError(event, gen),
      stop: (info) => this.#stop(info),
      refreshed: () => {
        const expires = this.#credentials.expires;
        if (this.#session === null) return;
        const { expires: _old, ...rest } = this.#session;
        this.#session = Object.freeze(expires === undefined ? rest : { ...rest, expires });
      },
    });
    this.#transports = new TransportChoice(this.#options);
    this.#host = {
      options: this.#options,
      isConnected: () => this.#state === 'connected',
      request: (method, params, callbacks) => this.#request(method, params, callbacks),
      publish: (channel, data, options) => this.publish(channel, data, options),
      remove: (channel, subscription) => {
        if (this.#subs.get(channel) === subscription) this.#subs.delete(channel);
      },
    };
  }

  /** `disconnected`, `connecting` (including waits between reconnect attempts) or `connected`. @example if (client.state === 'connected') showOnline(); */
  get state(): ClientState {
    return this.#state;
  }

  /** The current connection's identity, or null when not connected. @example const me = client.session?.user; */
  get session(): Session | null {
    return this.#session;
  }

  /**
   * The transport of the connection: `'websocket'`, or `'sse'` on the fallback (Server-Sent
   * Events + POST, where WebSockets are blocked); null when not connected.
   *
   * @example
   * client.on('connected', () => showTransport(client.transport));
   */
  get transport(): TransportName | null {
    return this.#state === 'connected' ? this.#transport : null;
  }

  /**
   * Start connecting; reconnects automatically until `disconnect()` or a terminal close.
   *
   * @example
   * client.connect();
   * client.once('connected', (e) => setUser(e.user));
   */
  connect(): void {
    if (this.#state !== 'disconnected') return;
    this.#attempt = 0;
    this.#setState('connecting', reasonOf(ClientCode.ConnectCalled));
    if (this.state === 'connecting') this.#open();
  }

  /**
   * Close the connection and stop reconnecting. Queued and in-flight publishes reject;
   * subscriptions wait in `subscribing` and resume after the next `connect()`.
   *
   * @example
   * window.addEventListener('pagehide', () => client.disconnect());
   */
  disconnect(): void {
    this.#stop(reasonOf(ClientCode.DisconnectCalled));
  }

  /**
   * Subscribe to a channel, or return the existing subscription for it. Works in any
   * state: the subscribe is sent once connected, and again (with recovery) after reconnects.
   * With `filter`, only publications whose tags match arrive (their offsets skip).
   *
   * @example
   * const sub = client.subscribe<{ text: string }>('chat:lobby');
   * sub.on('publication', (p) => append(p.data.text));
   * sub.on('subscribed', (e) => { if (e.wasRecovering && !e.recovered) reloadMessages(); });
   * const alerts = client.subscribe('project:42', { filter: { tags: { level: ['warn', 'error'] } } });
   */
  subscribe<T = unknown, P = unknown>(channel: string, options: SubscribeOptions = {}): Subscription<T, P> {
    if (parseChannel(channel) === null) throw SwitchboardError.of(ErrorCode.InvalidChannel, channel);
    let sub = this.#subs.get(channel);
    if (sub === undefined) {
      sub = new ChannelSubscription(channel, this.#host, options);
      this.#subs.set(channel, sub);
      sub.start();
    } else if (options.state) sub.wantState(options.state);
    return sub as unknown as Subscription<T, P>;
  }

  /**
   * The live subscription to a channel, if any.
   *
   * @example
   * client.getSubscription('chat:lobby')?.unsubscribe();
   */
  getSubscription<T = unknown, P = unknown>(channel: string): Subscription<T, P> | undefined {
    return this.#subs.get(channel) as unknown as Subscription<T, P> | undefined;
  }

  /**
   * Publish to a channel. While not connected the publish waits in the offline queue
   * (bounded by `offlineQueue.maxSize`); every publish carries an idempotency key that
   * survives reconnects, so a retried publish is delivered once. `tags` are what
   * subscription filters match against.
   *
   * @example
   * const { offset } = await client.publish('project:42', { type: 'renamed', name: 'Apollo' }, { tags: { kind: 'rename' } });
   */
  publish<T>(channel: string, data: T, options: PublishOptions = {}): Promise<PublishResult> {
    if (parseChannel(channel) === null) return Promise.reject(SwitchboardError.of(ErrorCode.InvalidChannel, channel));
    return new Promise((resolve, reject) => {
      const item: QueuedPublish = { channel, data, options, idempotencyKey: this.#options.createId(), resolve, reject };
      if (this.#state === 'connected' && this.#publishOpen && this.#queue.size === 0) this.#sendPublish(item);
      else if (!this.#queue.push(item)) reject(SwitchboardError.of(ClientCode.OfflineQueueFull, `max ${this.#queue.maxSize}`));
    });
  }

  /**
   * Publishes waiting in the offline queue (made while offline, or in flight when the connection
   * dropped), sent in order after the reconnect; the `offlineQueue` event says when it changes.
   * @example client.on('offlineQueue', ({ size }) => showBadge(size > 0 ? `${size} waiting` : ''));
   */
  get offlineQueueSize(): number {
    return this.#queue.size;
  }

  /**
   * Set this connection's presence status; remembered and sent again after reconnects.
   *
   * @example
   * document.addEventListener('visibilitychange', () => {
   *   void client.setStatus(document.hidden ? 'away' : 'online');
   * });
   */
  setStatus(status: 'online' | 'away'): Promise<void> {
    if (status !== 'online' && status !== 'away') {
      return Promise.reject(SwitchboardError.of(ErrorCode.BadRequest, 'status must be "online" or "away"'));
    }
    this.#status = status;
    if (this.#state !== 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => this.#request('status', { status }, { onResult: () => resolve(), onError: reject }));
  }

  /**
   * Send any command (also feature commands) and resolve with its result; rejects with a
   * SwitchboardError: the reply error, a timeout, or `ConnectionClosed` when not connected.
   *
   * @example
   * const { count } = await client.call<{ count: number }>('notifications.unread_count', {});
   */
  call<R = unknown>(method: string, params: unknown = {}): Promise<R> {
    return new Promise((resolve, reject) => {
      if (this.#state !== 'connected') {
        reject(SwitchboardError.of(ClientCode.ConnectionClosed));
        return;
      }
      this.#request(method as MethodName, params as never, { onResult: (r) => resolve(r as R), onError: reject });
    });
  }

  /**
   * Call the app's backend through the server (backend hooks' `rpc`); resolves with its answer.
   *
   * @example
   * const total = await client.rpc<number>('cart.total', { cart: 'c1' });
   */
  rpc<R = unknown>(method: string, data?: unknown): Promise<R> {
    return callRpc<R>(this, method, data);
  }

  /**
   * A new idempotency key (the `createId` option, by default `crypto.randomUUID`), for feature
   * modules whose writes must apply once when retried.
   *
   * @example
   * const key = client.createId();
   */
  createId(): string {
    return this.#options.createId();
  }

  /**
   * The instance of an SDK feature module for this client, made on first use and the same
   * on every later call (also after `disconnect()`: it resumes with the next `connect()`).
   * Feature entry points call it for you: `notifications(client)`, `activity(client, scope)`.
   * @example
   * import { notifications } from '@switchboard/client/notifications';
   * const inbox = notifications(client); // client.use(…) underneath, once per client
   */
  use<T>(module: ClientModule<T>): T {
    return this.#modules.use(module);
  }

  /**
   * Metric streams (docs/metrics.md): subscribe to series, push points into them.
   * @example await client.metrics.push('web.fps', 58, { labels: { page: '/editor' } });
   */
  readonly metrics: ClientMetrics = clientMetrics(this);

  /**
   * Listen to a feature's own pushes to this connection (`{"push":"feature"}`): `listener(event, data)`; returns the removal.
   * @example const off = client.onPush('documents', (event, data) => apply(event, data));
   */
  onPush(feature: string, listener: FeaturePushListener): () => void {
    return this.#featurePushes.on(feature, listener);
  }

  // --- connection -----------------------------------------------------------------

  #open(): void {
    const gen = ++this.#gen;
    if (this.#options.connectTimeout > 0) {
      this.#connectTimer.set(this.#options.connectTimeout, () => this.#lose(reasonOf(ClientCode.ConnectTimeout)));
    }
    if (this.#credentials.needsFetch()) this.#fetchToken(gen);
    else this.#openSocket(gen);
  }

  #fetchToken(gen: number): void {
    this.#credentials.fetch().then(
      (token) => {
        if (gen !== this.#gen) return;
        this.#credentials.useFetched(token);
        this.#openSocket(gen);
      },
      (err: unknown) => {
        if (gen !== this.#gen) return;
        const error = toError(err, ClientCode.TokenUnavailable);
        if (!this.#emitError({ error, during: 'token' }, gen)) return;
        if (err instanceof SwitchboardError && !err.temporary) this.#stop(reasonOf(ClientCode.Unauthorized));
        else this.#lose(reasonOf(ClientCode.TokenUnavailable));
      },
    );
  }

  #openSocket(gen: number): void {
    let opened = false;
    const transport = this.#transports.next();
    this.#transport = transport;
    try {
      this.#conn = new Connection(this.#transports.socketClass(transport), this.#url, {
        onOpen: () => {
          opened = true;
          this.#sendConnect(gen);
        },
        onMessage: () => this.#heartbeat.touch(),
        onFrame: (frame) => this.#onFrame(frame),
        onClose: (info) => {
          // Never opened: the upgrade was refused or never answered; a browser cannot tell which.
          if (!opened && transport === 'websocket') this.#askWhyRefused();
          this.#lose(info);
        },
        onBadMessage: (error) => {
          if (this.#emitError({ error, during: 'transport' }, gen)) this.#lose(reasonOf(ClientCode.BadFrame));
        },
      });
    } catch (err) {
      if (this.#emitError({ error: toError(err, ClientCode.TransportClosed), during: 'transport' }, gen)) {
        this.#lose(reasonOf(ClientCode.TransportClosed));
      }
    }
  }

  /** A never-opened socket: stop with OriginRefused if the server refuses this page's Origin. */
  #askWhyRefused(): void {
    if (!this.#options.fetch) return;
    void refusalReason(this.#options.fetch, this.#url).then((reason) => {
      if (reason === null || this.#state !== 'connecting') return;
      this.emit('error', { error: SwitchboardError.of(ClientCode.OriginRefused, reason), during: 'transport' });
      this.#stop({ code: ClientCode.OriginRefused.code, reason });
    });
  }

  #sendConnect(gen: number): void {
    const params: ConnectParams = {};
    const token = this.#credentials.token;
    if (token !== undefined) params.token = token;
    if (this.#options.name !== undefined) params.name = this.#options.name;
    const subs = resumePositions(this.#subs.values());
    if (subs !== undefined) params.subs = subs;
    this.#request(
      'connect',
      params,
      {
        onResult: (result) => {
          if (gen === this.#gen) this.#onConnected(result, gen);
        },
        onError: (error) => {
          if (gen === this.#gen) this.#onConnectError(error, gen);
        },
      },
      0,
    );
  }

  #onConnected(result: ConnectResult, gen: number): void {
    this.#connectTimer.clear();
    this.#attempt = 0;
    this.#credentials.accepted(result.expires);
    const expires = this.#credentials.expires;
    this.#session = Object.freeze({
      client: result.client,
      user: result.user,
      tenant: result.tenant,
      node: result.node,
      ...(expires === undefined ? {} : { expires }),
    });
    const ping = Number(result.ping) || 0;
    this.#heartbeat.start(ping > 0 ? ping + (Number(result.pong) || 0) : 0);
    this.#refresher.schedule();
    this.#setState('connected', reasonOf(ClientCode.Connected));
    if (gen !== this.#gen) return;
    this.#transports.connected(this.#transport, this.#url, () => this.#lose(reasonOf(ClientCode.TransportUpgrade), 'reconnect'));
    this.#cork(() => {
      if (this.#status === 'away') this.#request('status', { status: 'away' }, ignore);
      this.#resubscribeThenFlush(gen);
    });
  }

  #onConnectError(error: SwitchboardError, gen: number): void {
    if (!this.#emitError({ error, during: 'connect' }, gen)) return;
    const info = { code: error.code, reason: error.message };
    this.#lose(info, this.#credentials.afterRefusal(error.code) ?? (error.temporary ? 'reconnect' : 'stop'));
  }

  /** Subscribe everything again, then flush the offline queue (publishes follow their subscribes). */
  #resubscribeThenFlush(gen: number): void {
    let outstanding = 1;
    const done = (): void => {
      outstanding -= 1;
      if (outstanding === 0 && gen === this.#gen) this.#flushQueue();
    };
    for (const sub of [...this.#subs.values()]) {
      outstanding += 1;
      sub.handleConnected(done);
    }
    done();
  }

  #flushQueue(): void {
    if (this.#state !== 'connected') return;
    this.#publishOpen = true;
    const items = this.#queue.drain();
    if (items.length > 0) {
      this.#cork(() => {
        for (const item of items) this.#sendPublish(item);
      });
    }
  }

  #sendPublish(item: QueuedPublish): void {
    const { tags, priority } = item.options;
    // Absent options are undefined here and left out of the frame's JSON.
    const params = { channel: item.channel, data: item.data, idempotencyKey: item.idempotencyKey, tags, priority };
    this.#request('publish', params, { onResult: item.resolve, onError: item.reject }, this.#options.commandTimeout, item);
  }

  // --- frames ---------------------------------------------------------------------

  #request<M extends MethodName>(
    method: M,
    params: MethodMap[M][0],
    callbacks: CommandCallbacks<MethodMap[M][1]>,
    timeout = this.#options.commandTimeout,
    publish?: QueuedPublish,
  ): void {
    if (this.#conn === null) {
      if (publish !== undefined) this.#queue.requeue([publish]);
      else callbacks.onError(SwitchboardError.of(ClientCode.ConnectionClosed));
      return;
    }
    const id = ++this.#nextId;
    this.#pending.add(id, callbacks as CommandCallbacks, timeout, publish);
    this.#conn.send({ id, method, params });
  }

  #cork(fn: () => void): void {
    if (this.#conn === null) fn();
    else this.#conn.cork(fn);
  }

  #onFrame(frame: ServerFrame): void {
    if ('id' in frame && typeof frame.id === 'number') {
      this.#pending.settle(frame);
      return;
    }
    if (!('push' in frame)) return;
    if (frame.push === 'ping') {
      this.#conn?.send({ method: 'pong' });
      return;
    }
    if (frame.push === 'feature') this.#featurePushes.dispatch(frame);
    if (frame.push === 'feature' || typeof frame.channel !== 'string') return;
    if (frame.push === 'subscribe') {
      const create = (channel: string) => new ChannelSubscription(channel, this.#host);
      const announce = (subscription: Subscription) => this.emit('subscription', { channel: subscription.channel, subscription });
      applySubscribePush(frame, this.#subs, create, announce, (channel, error) => this.emit('error', { error, during: 'subscribe', channel }));
      return;
    }
    this.#subs.get(frame.channel)?.handlePush(frame as ChannelPush);
  }

  // --- losing the connection ------------------------------------------------------

  #afterClose(code: number): AfterLoss {
    return this.#credentials.afterRefusal(code) ?? (shouldReconnect(code) ? 'reconnect' : 'stop');
  }

  /** The transport is gone (or must go): reconnect with backoff, or stop on terminal closes. */
  #lose(info: StateReason, next: AfterLoss = this.#afterClose(info.code)): void {
    if (this.#state === 'disconnected') return;
    this.#transports.ended(this.#transport, this.#state === 'connected', info.code);
    if (next === 'stop') {
      this.#stop(info);
      return;
    }
    const entries = this.#teardown(info);
    // In-flight publishes go back to the front of the queue with their keys; the rest fail.
    const closed = SwitchboardError.of(ClientCode.ConnectionClosed);
    const publishes: QueuedPublish[] = [];
    for (const entry of entries) {
      if (entry.meta !== undefined) publishes.push(entry.meta);
      else entry.onError(closed);
    }
    this.#queue.requeue(publishes);
    const gen = this.#gen;
    for (const sub of [...this.#subs.values()]) sub.handleConnectionLost(info);
    if (gen !== this.#gen) return;
    this.#setState('connecting', info);
    if (gen !== this.#gen || this.#state !== 'connecting') return;
    const attempt = this.#attempt++;
    const { backoff, random } = this.#options;
    let delay = backoffDelay(attempt, backoff, random);
    if (info.code === DisconnectCode.Shutdown.code) delay += shutdownJitter(backoff, random);
    this.#reconnectTimer.set(delay, () => this.#open());
    this.emit('reconnecting', { code: info.code, reason: info.reason, delay, attempt: attempt + 1 });
  }

  /** Go `disconnected`: no reconnect; pending work fails. */
  #stop(info: StateReason): void {
    if (this.#state === 'disconnected') return;
    const entries = this.#teardown(info);
    const error = SwitchboardError.of(ClientCode.ClientDisconnected, info.reason);
    for (const entry of entries) entry.onError(error);
    for (const item of this.#queue.drain()) item.reject(error);
    const gen = this.#gen;
    for (const sub of [...this.#subs.values()]) sub.handleConnectionLost(info);
    if (gen === this.#gen) this.#setState('disconnected', info);
  }

  /** Detach and close the socket, stop the connection's timers, take its pending commands. */
  #teardown(info: StateReason): ReturnType<PendingCommands<QueuedPublish>['takeAll']> {
    this.#gen++;
    this.#conn?.close(info.reason);
    this.#conn = null;
    this.#connectTimer.clear();
    this.#reconnectTimer.clear();
    this.#refresher.clear();
    this.#heartbeat.stop();
    this.#transports.stop();
    this.#session = null;
    this.#publishOpen = false;
    return this.#pending.takeAll();
  }

  // --- events ---------------------------------------------------------------------

  /** Emit an error event; false when a listener changed the connection meanwhile. */
  #emitError(event: ClientErrorEvent, gen: number): boolean {
    this.emit('error', event);
    return gen === this.#gen;
  }

  #setState(next: ClientState, info: StateReason): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    this.emit('state', { state: next, previous, code: info.code, reason: info.reason });
    if (this.#state !== next) return;
    if (next === 'connected' && this.#session !== null) this.emit('connected', { ...info, ...this.#session });
    else if (next === 'connecting') this.emit('connecting', { ...info });
    else if (next === 'disconnected') this.emit('disconnected', { ...info });
  }
}
