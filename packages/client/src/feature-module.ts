import type { Subscription } from './subscription.js';

/**
 * What an SDK feature module (notifications, activity feeds, and the next ones) sees of the
 * client: commands, subscriptions, the session and the connect event — never its internals.
 * SwitchboardClient implements it.
 */
export interface FeatureHost {
  /** Send a command and resolve with its result; reject with a SwitchboardError. */
  call(method: string, params: unknown): Promise<unknown>;
  /** Subscribe to a channel, or return the existing subscription. */
  subscribe(channel: string): Subscription;
  /** The connected identity, or null before the first connect. */
  readonly session: { readonly user: string } | null;
  once(event: 'connected', listener: (e: { readonly user: string }) => void): () => void;
  /** The module's instance for this client, made on first use. */
  use<T>(module: ClientModule<T>): T;
}

/**
 * An SDK feature module: `create` makes its instance for one client, once per `key`.
 * Modules live in their own entry points (`@switchboard/client/notifications`, …), so an app
 * that never imports one does not ship it.
 */
export interface ClientModule<T> {
  readonly key: string;
  create(host: FeatureHost): T;
}
