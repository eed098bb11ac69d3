import { randomBytes } from 'node:crypto';
import { DisconnectCode, type DisconnectInfo, ErrorCode, type PresenceMember } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { Identity, TokenVerifier } from '../auth/token-verifier.js';
import type { Config } from '../config/schema.js';
import type { ChannelEvent, HistoryPage, PublishOutcome, StreamLoss, StreamPublication } from '../engine/broker.js';
import type { ChannelList, ControlCommand } from '../engine/control-bus.js';
import type { Engine } from '../engine/engine.js';
import type { PresenceEntry } from '../engine/presence-store.js';
import { ReplyError } from '../errors/reply-error.js';
import { createError } from '../errors/sb-error.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { NodeStats } from '../observability/stats.js';
import type { Storage } from '../storage/storage.js';
import { ChannelResolver, type ResolvedChannel } from './channels.js';
import { Client } from './client.js';
import type { CommandDefinition } from './command.js';
import { coreCommands } from './commands/index.js';
import { serverSubscribe } from './commands/subscribe.js';
import type { Connection, ConnectionMeta } from './connection.js';
import type { HistoryRequest, LeaseStoreView, LocalSession, NodeMessagesView, NodeServices, PublishRequest, RatesView, SurveysView } from './context.js';
import { unsubscribePush } from './encode.js';
import { engineError } from './engine-error.js';
import { engineRates } from './engine-rates.js';
import { type FeaturePresence, type FeaturePresenceMember, FeaturePresences, type LocalFeaturePresence } from './feature-presence.js';
import { FlushQueue } from './flush-queue.js';
import { Hub } from './hub.js';
import type { ClientHost, KernelCommandContext } from './kernel-context.js';
import { type HookAnswer, type HookName, type HookPayloads, type ModuleParts, ModuleRegistry, presenceClientOf, type UnsubscribeReason } from './modules.js';
import { nodeSurveys } from './node-surveys.js';
import { type PayloadKind, PayloadSchemas } from './payload-schemas.js';
import { deviceOf, groupPresence } from './presence.js';
import { publishOptions } from './publish-options.js';
import { SecurityEvents } from './security-events.js';
import type { Subscription } from './subscription.js';
import { TenantQuotas } from './tenant-quotas.js';
import { TenantViews } from './tenant-views.js';
import { TimerWheel } from './timer-wheel.js';
import { UserIndex } from './user-index.js';

export interface NodeOptions {
  config: Config;
  engine: Engine;
  verifier: TokenVerifier;
  logger: Logger;
  /** Commands and hooks of the features, in registration order (features/host.ts starts and stops them). */
  features?: readonly ModuleParts[];
  /** Clock in Unix ms for connection deadlines, token expiry among them (default `Date.now`). */
  now?: () => number;
}

/**
 * The running server, independent of transport: connections, channels, the engine,
 * commands and features. The HTTP API and the WebSocket transport both drive it.
 */
export class Node implements ClientHost {
  readonly id: string;
  readonly config: Config;
  readonly engine: Engine;
  readonly #verifier: TokenVerifier;
  readonly logger: Logger;
  /** The clock of connection deadlines (the timer wheel) and token expiry. */
  readonly now: () => number;
  readonly stats = new NodeStats();
  /** Security and admin notices: reported by core, transport and the HTTP API, heard by features. */
  readonly security: SecurityEvents;
  readonly metrics: Metrics;
  /** The node's own figures, read where `/metrics` reads them (the metrics feature's system scope). */
  readonly selfFigures: Metrics['figures'];
  readonly wheel: TimerWheel;
  /** Where a user is present and the tenant's numbers, over every node. */
  readonly tenantViews: TenantViews;
  /** Per-tenant quotas over the global limits (config file, then stored over the HTTP API). */
  readonly quotas: TenantQuotas;
  readonly #resolver: ChannelResolver;
  readonly #schemas: PayloadSchemas;
  readonly #hub: Hub<Client>;
  readonly #commands = new Map<string, CommandDefinition<z.ZodType, KernelCommandContext>>();
  readonly #modules = new ModuleRegistry();
  readonly #clients = new Set<Client>();
  /** Open connections of features' endpoints: counted with the clients, closed on drain. */
  readonly #endpointConnections = new Set<{ close(code: number, reason: string): void }>();
  readonly #byUser = new UserIndex<Client>();
  readonly #flushQueue = new FlushQueue<Client>();
  #draining = false;
  readonly #inflightPublishes = new Set<Promise<unknown>>();
  readonly #presenceLocks = new Map<string, Promise<void>>();
  readonly #featurePresences: FeaturePresences;
  readonly #checks = new Map<string, () => string | null>();
  #services: NodeServices | null = null;
  /** Subscriptions `afterSubscribe` announced: `onUnsubscribe` follows once for each. */
  readonly #announced = new WeakSet<Subscription>();
  /** Subscriptions whose presence `onPresenceJoin` announced: `onPresenceLeave` follows once for each. */
  readonly #joined = new WeakSet<Subscription>();

  constructor(options: NodeOptions) {
    this.config = options.config;
    this.engine = options.engine;
    this.rates = engineRates(this.engine);
    this.#verifier = options.verifier;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.security = new SecurityEvents((err) => this.logger.warn({ err }, 'a security notice listener failed'));
    this.id = options.config.nodeId || randomBytes(4).toString('hex');
    this.wheel = new TimerWheel(50, 1024, this.now, (err) => this.logger.error({ err }, 'timer callback failed'));
    this.#resolver = new ChannelResolver(options.config.namespaces, options.config.limits.maxChannelNameLength);
    this.#schemas = new PayloadSchemas(options.config.namespaces);
    const onError = (err: unknown) => this.logger.warn({ err }, 'broker unsubscribe failed');
    this.#hub = new Hub(this.engine.broker, { onError, wheel: this.wheel, stats: this.stats });
    this.metrics = createMetrics({
      stats: this.stats,
      connections: () => this.#clients.size + this.#endpointConnections.size,
      subscriptions: () => [...this.#clients].reduce((n, c) => n + c.subscriptionCount, 0),
      channels: () => this.#hub.channelCount,
      tenants: () => this.tenantViews.figures(),
    });
    this.selfFigures = this.metrics.figures;
    for (const cmd of coreCommands) this.#commands.set(cmd.method, cmd);
    for (const feature of options.features ?? []) this.#modules.register(feature, this.#commands);
    this.engine.broker.setHandler({
      onPublication: (key: string, pub: StreamPublication, epoch: string) => this.#hub.publish(key, pub, epoch),
      onEvent: (key: string, event: ChannelEvent) => this.#hub.event(key, event),
      onStreamLost: (key: string, loss: StreamLoss) => this.#streamLost(key, loss),
    });
    this.engine.control.setHandler((cmd) => this.#handleControl(cmd));
    this.engine.control.setChannelSource((tenant, prefix) => this.channels(tenant).filter((c) => c.channel.startsWith(prefix)));
    this.quotas = new TenantQuotas(this);
    this.tenantViews = new TenantViews(this);
    const host = { engine: this.engine, now: this.now, quotas: this.quotas, limits: this.config.limits };
    this.#featurePresences = new FeaturePresences({ ...host, engineCall: (where, op) => this.#engineCall(where, op), notice: (n, p) => this.#notice(n, p) });
  }

  /** Start the deadlines; from now on `storage` and `feature()` answer from `services`. */
  async start(services?: NodeServices): Promise<void> {
    if (services) this.#services = services;
    await this.quotas.start(services?.storage);
    this.wheel.start();
    this.tenantViews.start();
  }

  /** Open kernel connections of this node (read-only: they come and go through accept and close). */
  get clients(): ReadonlySet<Client> {
    return this.#clients;
  }

  /** Local subscribers per channel (and publications in a conflated channel's open window), for probes and tests. */
  get hub(): Pick<Hub, 'subscribers' | 'channelCount' | 'conflating'> {
    return this.#hub;
  }

  /** The command a connection asked for: the kernel's or a feature's. */
  command(method: string): CommandDefinition<z.ZodType, KernelCommandContext> | undefined {
    return this.#commands.get(method);
  }

  async verifyToken(token: string | undefined): Promise<Identity> {
    const identity = await this.#verifier.verify(token);
    const max = this.config.limits.maxInfoBytes;
    if (identity.info !== undefined && Buffer.byteLength(JSON.stringify(identity.info)) > max)
      throw new ReplyError(ErrorCode.PayloadTooLarge, `token info larger than ${max} bytes`);
    return identity;
  }

  get metricsRegistry(): Registry {
    return this.metrics.registry;
  }

  get limits(): Config['limits'] {
    return this.config.limits;
  }

  get messages(): NodeMessagesView {
    return this.engine.messages;
  }

  get leases(): LeaseStoreView {
    return this.engine.leases;
  }

  /** Buckets of the engine's limit store, under names of their own (`r|…`), apart from the kernel's. */
  readonly rates: RatesView;
  /** Surveys of every live node, under kinds of their own (`s|…`), apart from the kernel's. */
  readonly surveys: SurveysView = nodeSurveys(
    () => this.engine.control,
    (err, kind) => this.#engineError(err, kind),
  );

  get storage(): Storage {
    if (!this.#services) throw createError('SB_ERR_STORAGE', 'the node has not started');
    return this.#services.storage;
  }

  feature<T>(name: string): T {
    if (!this.#services) throw createError('SB_ERR_FEATURE_SERVICE', `feature "${name}" is not running`);
    return this.#services.feature<T>(name);
  }

  resolve(tenant: string, channel: unknown): ResolvedChannel {
    return this.#resolver.resolve(tenant, channel);
  }

  runHook<K extends HookName>(name: K, payload: HookPayloads[K]): Promise<HookAnswer<K> | undefined> {
    return this.#modules.run(name, payload);
  }

  subscribeSnapshots(client: Client, ch: ResolvedChannel, wanted: readonly string[]): Promise<Record<string, unknown> | undefined> {
    return this.#modules.snapshots({ client, channel: ch }, wanted);
  }

  joinHub(ch: ResolvedChannel, client: Client): Promise<void> {
    return this.#hub.add(ch.key, client, ch.options.conflation);
  }

  /** The subscribe reply went out: tell the features (`afterSubscribe`). */
  announceSubscription(client: Client, sub: Subscription, recovered: boolean | null): void {
    if (client.closed || client.subscription(sub.ch.key) !== sub) return;
    this.#announced.add(sub);
    this.#notice('afterSubscribe', { client, channel: sub.ch, recovered });
  }

  /** Run a notice hook (one that cannot refuse anything) without waiting; a throw is logged. */
  #notice<K extends HookName>(name: K, payload: HookPayloads[K]): void {
    this.#modules.notify(name, payload, (err) => this.logger.warn({ err, hook: name }, 'hook failed'));
  }

  #presenceLeft(client: Client, sub: Subscription): void {
    sub.leavePresence();
    if (this.#joined.delete(sub)) this.#notice('onPresenceLeave', { client: presenceClientOf(client), channel: sub.ch });
  }

  #unsubscribed(client: Client, sub: Subscription, reason: UnsubscribeReason): void {
    if (this.#announced.delete(sub)) this.#notice('onUnsubscribe', { client, channel: sub.ch, reason });
  }

  get draining(): boolean {
    return this.#draining;
  }

  ready(): boolean {
    return this.readiness().ready;
  }

  /**
   * A dependency readiness must wait for, besides the engine: `check` answers null while it
   * is fine, else what is wrong (it must answer at once: probe elsewhere, report here).
   */
  addReadinessCheck(name: string, check: () => string | null): void {
    this.#checks.set(name, check);
  }

  /** Whether the node takes work, and the state of each dependency ('ok' or what is wrong). */
  readiness(): { ready: boolean; checks: Record<string, string> } {
    const checks: Record<string, string> = { engine: this.engine.broker.ready() ? 'ok' : `${this.engine.name} unavailable` };
    for (const [name, check] of this.#checks) checks[name] = check() ?? 'ok';
    return { ready: !this.#draining && Object.values(checks).every((v) => v === 'ok'), checks };
  }

  // ---- connections ----

  /** A transport accepted a connection: the Client takes it from here. */
  accept(conn: Connection, meta: ConnectionMeta): Client {
    const client = new Client(this, conn, meta);
    this.#clients.add(client);
    return client;
  }

  /** A connection of a feature's endpoint opened (closed at shutdown), or with `open` false, it closed. */
  trackEndpointConnection(conn: { close(code: number, reason: string): void }, open = true): void {
    if (open) this.#endpointConnections.add(conn);
    else this.#endpointConnections.delete(conn);
  }

  /** Take a connection slot for the user (limits hold across nodes); 116 while the engine is away. */
  async acquireConnection(tenant: string, user: string): Promise<'ok' | 'user' | 'tenant'> {
    const l = this.config.limits;
    try {
      return await this.engine.limits.acquireConnection(tenant, user, l.connectionsPerUser, this.quotas.connections(tenant));
    } catch (err) {
      throw this.#engineError(err, 'connect');
    }
  }

  registerUser(client: Client): void {
    const id = client.identity;
    if (id) this.#byUser.add(id.tenant, id.user, client);
  }

  /** Called once per connection when it closes, whichever side closed it. */
  clientClosed(client: Client): void {
    this.#clients.delete(client);
    const id = client.identity;
    if (id) this.#byUser.delete(id.tenant, id.user, client);
    if (client.wasConnected && id) this.tenantViews.release(id.tenant);
    if (client.wasConnected && client.ended.lost) this.#notice('onConnectionLost', { client });
    for (const sub of client.subscriptions()) {
      this.#hub.remove(sub.ch.key, client);
      if (sub.present) this.leavePresence(client, sub.ch).catch((err) => this.logger.warn({ err }, 'presence leave failed'));
      this.#unsubscribed(client, sub, 'disconnect');
    }
    if (client.dropSlot() && id) {
      this.engine.limits.releaseConnection(id.tenant, id.user).catch((err) => this.logger.warn({ err }, 'release connection failed'));
    }
    if (client.wasConnected) {
      const { code, reason } = client.ended.info;
      this.#modules
        .run('onDisconnect', { client, code, reason, lost: client.ended.lost, durationMs: client.ended.age })
        .catch((err) => this.logger.warn({ err }, 'onDisconnect hook failed'));
    }
  }

  markDirty(client: Client): void {
    this.#flushQueue.push(client);
  }

  // ---- channel operations shared by client commands and the HTTP API ----

  /** The namespace's publication size limit (or the message limit), for every publish path. */
  checkPublicationSize(ch: ResolvedChannel, data: string): void {
    const max = ch.options.maxPublicationBytes || this.config.limits.maxMessageBytes;
    if (Buffer.byteLength(data) > max) throw new ReplyError(ErrorCode.PayloadTooLarge, `publication larger than ${max} bytes`);
  }

  /** The namespace's JSON Schema for this kind of payload, if it declares one: 119 naming the first failing path. */
  checkPayload(ch: ResolvedChannel, kind: PayloadKind, value: unknown): void {
    this.#schemas.check(ch, kind, value);
  }

  /** Publish serialised JSON `data` to a resolved channel. Durable in history before fan-out. */
  async publish(ch: ResolvedChannel, text: string, req: PublishRequest = {}): Promise<PublishOutcome> {
    let data = text;
    if (this.#draining) throw new ReplyError(ErrorCode.Unavailable, 'shutting down');
    const options = publishOptions(ch, req, this.config);
    const client = req.client ?? null;
    const turn = client instanceof Client ? client.submitTurn() : undefined;
    try {
      const rewritten = (await this.#modules.run('beforePublish', { channel: ch, data, client }))?.data;
      if (rewritten !== undefined && rewritten !== data) {
        this.checkPublicationSize(ch, rewritten);
        data = rewritten;
      }
      if (turn) await turn.ready;
    } catch (err) {
      turn?.done();
      throw err;
    }
    // The engine call is issued synchronously here: the next publish of this connection follows it.
    const pending = this.engine.broker.publish(ch.key, data, options);
    turn?.done();
    this.#inflightPublishes.add(pending);
    let outcome: PublishOutcome;
    try {
      outcome = await pending;
    } catch (err) {
      throw this.#engineError(err, 'publish');
    } finally {
      this.#inflightPublishes.delete(pending);
    }
    if (!outcome.deduplicated) {
      this.stats.published(ch.key, this.now());
      await this.#modules
        .run('afterPublish', { channel: ch, data, offset: outcome.offset, epoch: outcome.epoch, client })
        .catch((err) => this.logger.warn({ err }, 'afterPublish hook failed'));
    }
    return outcome;
  }

  history(ch: ResolvedChannel, query: HistoryRequest): Promise<HistoryPage> {
    return this.#engineCall('history', () => this.engine.broker.history(ch.key, query));
  }

  /** Drop a channel's history; its subscribers, on every node, are told to resubscribe. */
  removeHistory(ch: ResolvedChannel): Promise<void> {
    return this.#engineCall('remove history', () => this.engine.broker.removeHistory(ch.key));
  }

  async presence(ch: ResolvedChannel): Promise<PresenceMember[]> {
    return groupPresence(await this.#engineCall('presence', () => this.engine.presence.get(ch.key)));
  }

  presenceStats(ch: ResolvedChannel): Promise<{ users: number; connections: number }> {
    return this.#engineCall('presence', () => this.engine.presence.counts(ch.key));
  }

  joinPresence = (ch: ResolvedChannel, member: FeaturePresenceMember): Promise<FeaturePresence> => this.#featurePresences.join(ch, member);
  localFeaturePresences = (tenant: string): LocalFeaturePresence[] => this.#featurePresences.local(tenant);

  /** Enter or update this connection's presence in a channel it is subscribed to. */
  async setPresence(client: Client, ch: ResolvedChannel, state: string | null): Promise<void> {
    // Presence writes to one channel are serialised on this node, so they land in the order they were made.
    const previous = this.#presenceLocks.get(ch.key) ?? Promise.resolve();
    const mine = previous.then(() => this.#setPresence(client, ch, state));
    const tail = mine.catch(() => {});
    this.#presenceLocks.set(ch.key, tail);
    void tail.then(() => {
      if (this.#presenceLocks.get(ch.key) === tail) this.#presenceLocks.delete(ch.key);
    });
    return mine;
  }

  async #setPresence(client: Client, ch: ResolvedChannel, state: string | null): Promise<void> {
    const sub = client.subscription(ch.key);
    const id = client.identity;
    if (!sub || !id) throw new ReplyError(ErrorCode.NotSubscribed);
    const joining = !sub.present;
    const entry: PresenceEntry = { client: client.id, user: id.user, status: client.status, state, since: joining ? this.now() : sub.presenceSince };
    if (id.info !== undefined) entry.info = JSON.stringify(id.info);
    sub.enterPresence(state, entry.since);
    // The member cap is checked by the store, atomically with the write (across nodes too).
    const result = await this.engine.presence.set(ch.key, entry, joining ? this.quotas.presenceMembers(ch.tenant) : undefined);
    if (result === 'full') {
      sub.leavePresence();
      throw new ReplyError(ErrorCode.LimitExceeded, 'presence members');
    }
    if (client.closed || !client.isSubscribed(ch.key)) {
      await this.engine.presence.remove(ch.key, client.id);
      return;
    }
    if (result === 'new') {
      this.#joined.add(sub);
      this.#notice('onPresenceJoin', { client: presenceClientOf(client), channel: ch, state });
    } else if (this.#joined.has(sub)) {
      this.#notice('onPresenceUpdate', { client: presenceClientOf(client), channel: ch, state });
    }
    if (ch.options.joinLeave)
      await this.engine.broker.publishEvent(ch.key, { kind: result === 'new' ? 'join' : 'update', user: id.user, device: deviceOf(entry) });
  }

  async leavePresence(client: Client, ch: ResolvedChannel): Promise<void> {
    const sub = client.subscription(ch.key);
    if (sub) this.#presenceLeft(client, sub);
    const removed = await this.engine.presence.remove(ch.key, client.id);
    if (removed && ch.options.joinLeave) await this.engine.broker.publishEvent(ch.key, { kind: 'leave', user: removed.user, device: deviceOf(removed) });
  }

  /** The client's status changed (away, idle, back online): update its presence everywhere. */
  presenceStatusChanged(client: Client): void {
    for (const sub of client.subscriptions()) {
      if (sub.present) this.setPresence(client, sub.ch, sub.presenceState).catch((err) => this.logger.warn({ err }, 'presence update failed'));
    }
  }

  localSessions(tenant: string): LocalSession[] {
    const out: LocalSession[] = [];
    for (const client of this.#clients) {
      if (client.closed || !client.wasConnected || client.identity?.tenant !== tenant) continue;
      const channels = [...client.subscriptions()]
        .filter((sub) => this.#announced.has(sub))
        .map((sub) => ({ channel: sub.ch, presence: this.#joined.has(sub) ? { state: sub.presenceState } : null }));
      out.push({ client, channels });
    }
    return out;
  }

  /** Channels of a tenant with subscribers on this node. */
  channels(tenant: string): Array<{ channel: string; subscribers: number }> {
    return this.#hub.channels(tenant);
  }

  /** Channels of a tenant with subscribers on any live node, subscribers summed; bounded in time. */
  async clusterChannels(tenant: string, prefix = ''): Promise<ChannelList> {
    try {
      return await this.engine.control.channels(tenant, prefix);
    } catch (err) {
      throw this.#engineError(err, 'channels');
    }
  }

  /** Close every connection of a user, on every node. */
  disconnectUser(tenant: string, user: string, info: DisconnectInfo = DisconnectCode.ForceDisconnect, client?: string): Promise<void> {
    return this.#control({ kind: 'disconnect', tenant, user, code: info.code, reason: info.reason, ...(client ? { client } : {}) });
  }

  /** Remove a user's subscription to a channel, on every node. */
  unsubscribeUser(tenant: string, user: string, channel: string): Promise<void> {
    return this.#control({ kind: 'unsubscribe', tenant, user, channel, code: DisconnectCode.Forbidden.code, reason: 'unsubscribed by server' });
  }

  /** Subscribe a user's connections to a channel, on every node; each is checked like `subscribe`. */
  subscribeUser(tenant: string, user: string, channel: string): Promise<void> {
    return this.#control({ kind: 'subscribe', tenant, user, channel });
  }

  #control(command: ControlCommand): Promise<void> {
    return this.#engineCall(command.kind, () => this.engine.control.publish(command));
  }

  /** Local connections of a user. */
  userClients(tenant: string, user: string): ReadonlySet<Client> {
    return this.#byUser.of(tenant, user);
  }

  #handleControl(cmd: ControlCommand): void {
    const clients = [...this.userClients(cmd.tenant, cmd.user)];
    if (cmd.kind === 'disconnect') {
      for (const c of clients) if (!cmd.client || c.id === cmd.client) c.close({ code: cmd.code, reason: cmd.reason });
      return;
    }
    if (cmd.kind === 'subscribe') {
      for (const c of clients) if (c.state === 'connected') void serverSubscribe(c, this, cmd.channel);
      return;
    }
    for (const c of clients) {
      const key = `${cmd.tenant}|${cmd.channel}`;
      if (!c.isSubscribed(key)) continue;
      this.removeSubscription(c, key);
      c.enqueue(unsubscribePush(cmd.channel, cmd.code, cmd.reason));
    }
  }

  /** A channel's stream lost publications under this node's subscribers: each resubscribes. */
  #streamLost(key: string, loss: StreamLoss): void {
    const clients = this.#hub.clientsOf(key);
    this.stats.streamLost(loss);
    this.logger.warn({ channel: key, loss, subscribers: clients.length }, 'channel stream lost publications; its subscribers are told to resubscribe');
    for (const client of clients) this.resubscribe(client, key);
  }

  /**
   * Tell one subscription it missed publications: the server drops it and pushes
   * `unsubscribe` 3009, after which the client subscribes again with recovery and learns
   * (`recovered: false`, the new epoch) what it lost.
   */
  resubscribe(client: Client, key: string): void {
    const sub = client.subscription(key);
    if (!sub) return;
    this.stats.resyncs++;
    this.removeSubscription(client, key);
    const info = DisconnectCode.InsufficientState;
    client.enqueue(unsubscribePush(sub.ch.channel, info.code, info.reason));
  }

  removeSubscription(client: Client, key: string, reason: UnsubscribeReason = 'server'): void {
    const sub = client.dropSubscription(key);
    if (!sub) return;
    this.#hub.remove(key, client);
    const present = sub.present;
    if (present) this.#presenceLeft(client, sub);
    this.#unsubscribed(client, sub, reason);
    if (present) {
      // The subscription is gone; remove the entry directly.
      this.engine.presence
        .remove(key, client.id)
        .then((removed) => {
          if (removed && sub.ch.options.joinLeave)
            return this.engine.broker.publishEvent(key, { kind: 'leave', user: removed.user, device: deviceOf(removed) });
        })
        .catch((err) => this.logger.warn({ err }, 'presence leave failed'));
    }
  }

  // ---- errors and metrics ----

  internalError(err: unknown, where: string): ReplyError {
    this.logger.error({ err, where }, 'command failed');
    return new ReplyError(ErrorCode.Internal);
  }

  /** An engine operation whose failure becomes the temporary 116 (not logged again while the engine is known to be down). */
  async #engineCall<T>(where: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw this.#engineError(err, where);
    }
  }

  #engineError(err: unknown, where: string): ReplyError {
    return engineError(this.engine, this.logger, err, where);
  }

  observeCommand(method: string, seconds: number): void {
    this.metrics.observeCommand(method, seconds);
  }

  // ---- shutdown ----

  /** Stop taking work: readiness fails, in-flight publishes finish, clients are told to reconnect. */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const deadline = Date.now() + this.config.timeouts.shutdown / 2;
    while (this.#inflightPublishes.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.#inflightPublishes]), new Promise((r) => setTimeout(r, 50))]);
    }
    for (const client of [...this.#clients]) client.close(DisconnectCode.Shutdown);
    for (const conn of [...this.#endpointConnections]) conn.close(DisconnectCode.Shutdown.code, DisconnectCode.Shutdown.reason);
  }

  async close(): Promise<void> {
    await this.drain();
    this.wheel.stop();
    this.tenantViews.stop();
    this.quotas.stop();
  }
}
