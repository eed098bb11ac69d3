import type { z } from 'zod';
import type { Identity } from '../auth/token-verifier.js';
import type { Engine } from '../engine/engine.js';
import type { TokenBucket } from '../engine/token-bucket.js';
import type { NodeStats } from '../observability/stats.js';
import type { ResolvedChannel } from './channels.js';
import type { CommandDefinition } from './command.js';
import type { NodeContext, SessionContext } from './context.js';
import type { HookAnswer, HookName, HookPayloads, UnsubscribeReason } from './modules.js';
import type { Subscription } from './subscription.js';
import type { TenantViews } from './tenant-views.js';
import type { TimerWheel } from './timer-wheel.js';

/**
 * What the kernel's own commands (core/commands/) see of the node, beyond what a feature
 * sees: the token verifier, connection slots, hooks, presence writes and subscriptions.
 * `Node` implements it; nothing outside core uses it.
 */
export interface KernelNode extends NodeContext {
  verifyToken(token: string | undefined): Promise<Identity>;
  readonly engine: Pick<Engine, 'broker' | 'limits'>;
  acquireConnection(tenant: string, user: string): Promise<'ok' | 'user' | 'tenant'>;
  /** Run a hook; an answering hook's merged answer comes back (undefined: none). */
  runHook<K extends HookName>(name: K, payload: HookPayloads[K]): Promise<HookAnswer<K> | undefined>;
  /** The `onSubscribeSnapshot` answers of the `wanted` features, by name, for a subscribe reply's `state`. */
  subscribeSnapshots(client: KernelSession, ch: ResolvedChannel, wanted: readonly string[]): Promise<Record<string, unknown> | undefined>;
  registerUser(client: KernelSession): void;
  /** Join the channel's local subscribers (the broker delivers it to this node from then on). */
  joinHub(ch: ResolvedChannel, client: KernelSession): Promise<void>;
  setPresence(client: KernelSession, ch: ResolvedChannel, state: string | null): Promise<void>;
  leavePresence(client: KernelSession, ch: ResolvedChannel): Promise<void>;
  presenceStatusChanged(client: KernelSession): void;
  /** End a subscription (`reason` for `onUnsubscribe`; default 'server'). */
  removeSubscription(client: KernelSession, key: string, reason?: UnsubscribeReason): void;
  /** The subscribe reply went out: `afterSubscribe` runs, and `onUnsubscribe` will when it ends. */
  announceSubscription(client: KernelSession, sub: Subscription, recovered: boolean | null): void;
}

/** What the kernel's own commands see of a connection, beyond what a feature's command sees. */
export interface KernelSession extends SessionContext {
  readonly state: 'handshake' | 'connected' | 'closed';
  readonly signalBucket: TokenBucket;
  /** `connect` took a connection slot for this identity. */
  holdSlot(identity: Identity): void;
  /** Give the slot up: true when one was held (the caller releases it in the store). */
  dropSlot(): boolean;
  markConnected(identity: Identity): void;
  /** A refreshed token for the same user: new capabilities, new expiry. */
  refreshIdentity(identity: Identity): void;
  /** The status the client chose; whether it changed. */
  setManualStatus(status: 'online' | 'away'): boolean;
  subscription(key: string): Subscription | undefined;
  subscriptions(): IterableIterator<Subscription>;
  addSubscription(sub: Subscription): void;
  enqueue(bytes: Buffer, droppable?: boolean): void;
  releasePending(sub: Subscription): void;
}

/**
 * What a connection (`Client`) needs of its node: the command table, the timer wheel, the
 * counters, the flush of its queue, and the node's side of closing and resubscribing.
 * `Node` implements it, so client.ts does not import node.ts.
 */
export interface ClientHost extends KernelNode {
  readonly wheel: TimerWheel;
  /** The node's clock (Unix ms), for activity and presence times. */
  readonly now: () => number;
  readonly stats: NodeStats;
  readonly tenantViews: TenantViews;
  command(method: string): CommandDefinition<z.ZodType, KernelCommandContext> | undefined;
  /** The connection queued frames: flush it at the end of this event-loop turn. */
  markDirty(client: KernelSession): void;
  /** Called once per connection when it closes, whichever side closed it. */
  clientClosed(client: KernelSession): void;
  /** The subscription missed publications: drop it and tell the client to resubscribe. */
  resubscribe(client: KernelSession, key: string): void;
  observeCommand(method: string, seconds: number): void;
}

export interface KernelCommandContext {
  client: KernelSession;
  node: KernelNode;
}

/** A command of the kernel's protocol: like `defineCommand`, with the kernel's context. */
export function kernelCommand<S extends z.ZodType>(def: CommandDefinition<S, KernelCommandContext>): CommandDefinition<S, KernelCommandContext> {
  return def;
}
