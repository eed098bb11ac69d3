import type { EventSource } from './emitter.js';
import type { ClientEvents, Session } from './events.js';
import type { Subscription } from './subscription.js';
import type { SubscribeOptions } from './subscription-api.js';

/** The client events a feature module may follow: the connection's state. */
export type FeatureHostEvents = Pick<ClientEvents, 'state' | 'connected' | 'disconnected'>;

/**
 * What an SDK feature module (notifications, activity feeds, and the next ones) sees of the
 * client: commands, channel subscriptions (a feature's pushes arrive on its own channels),
 * the session and the connection's state events — never its internals. SwitchboardClient
 * implements it; a module's `create` gets a host that forwards these members and nothing else.
 */
export interface FeatureHost extends Pick<EventSource<FeatureHostEvents>, 'on' | 'once'> {
  /**
   * Send a command and resolve with its result; reject with a SwitchboardError (the reply
   * error, a timeout, or `ConnectionClosed` while not connected).
   *
   * @example
   * const { count } = await host.call<{ count: number }>('notifications.unread_count');
   */
  call<R = unknown>(method: string, params?: unknown): Promise<R>;
  /**
   * Subscribe to a channel, or return the existing subscription; it resubscribes (with
   * recovery) after every reconnect.
   *
   * @example
   * host.subscribe<{ kind: string }>(`user:${user}`).on('publication', (p) => route(p.data));
   */
  subscribe<T = unknown, P = unknown>(channel: string, options?: SubscribeOptions): Subscription<T, P>;
  /** The connected identity, or null while not connected. */
  readonly session: Session | null;
  /**
   * A new idempotency key (the client's `createId` option), for writes that must apply once
   * when they are retried.
   *
   * @example
   * host.call('comments.reply', { threadId, body, idempotencyKey: host.createId() });
   */
  createId(): string;
  /**
   * Another module's instance for this client, made on first use.
   *
   * @example
   * const inbox = host.use(inboxModule);
   */
  use<T>(module: ClientModule<T>): T;
  /**
   * Listen to the feature's own pushes to this connection (`{"push":"feature","feature",…}`):
   * `listener(event, data)`, in order with the connection's other frames. Returns the removal.
   *
   * @example
   * const off = host.onPush('documents', (event, data) => { if (event === 'update') apply(data); });
   */
  onPush(feature: string, listener: (event: string, data: unknown) => void): () => void;
}

/**
 * An SDK feature module: `create` makes its instance for one client, once per `key`.
 * Modules live in their own entry points (`@switchboard/client/notifications`, …), so an app
 * that never imports one does not ship it.
 *
 * @example
 * const presenceBadge: ClientModule<Badge> = { key: 'presence-badge', create: (host) => new Badge(host) };
 * const badge = client.use(presenceBadge); // the same instance on every call
 */
export interface ClientModule<T> {
  /** Names the instance: one per client and key (a feed per scope uses `activity:{scope}`). */
  readonly key: string;
  create(host: FeatureHost): T;
}

/** A host that forwards the FeatureHost members of `client` only. */
function narrowHost(client: FeatureHost): FeatureHost {
  return Object.freeze({
    call: <R>(method: string, params?: unknown) => client.call<R>(method, params),
    subscribe: <T, P>(channel: string, options?: SubscribeOptions) => client.subscribe<T, P>(channel, options),
    get session() {
      return client.session;
    },
    createId: () => client.createId(),
    on: ((event, listener) => client.on(event, listener)) as FeatureHost['on'],
    once: ((event, listener) => client.once(event, listener)) as FeatureHost['once'],
    use: <T>(module: ClientModule<T>) => client.use(module),
    onPush: (feature: string, listener: (event: string, data: unknown) => void) => client.onPush(feature, listener),
  });
}

/** The feature modules' instances of one client, by key, made on first use. */
export class FeatureModules {
  readonly #host: FeatureHost;
  readonly #instances = new Map<string, unknown>();

  constructor(client: FeatureHost) {
    this.#host = narrowHost(client);
  }

  use<T>(module: ClientModule<T>): T {
    if (this.#instances.has(module.key)) return this.#instances.get(module.key) as T;
    const instance = module.create(this.#host);
    this.#instances.set(module.key, instance);
    return instance;
  }
}
