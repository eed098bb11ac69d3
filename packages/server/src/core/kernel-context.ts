import type { z } from 'zod';
import type { Identity } from '../auth/token-verifier.js';
import type { Engine } from '../engine/engine.js';
import type { TokenBucket } from '../engine/token-bucket.js';
import type { ResolvedChannel } from './channels.js';
import type { CommandDefinition } from './command.js';
import type { NodeContext, SessionContext } from './context.js';
import type { HookName, HookPayloads } from './modules.js';
import type { Subscription } from './subscription.js';

/**
 * What the kernel's own commands (core/commands/) see of the node, beyond what a feature
 * sees: the token verifier, connection slots, hooks, presence writes and subscriptions.
 * `Node` implements it; nothing outside core uses it.
 */
export interface KernelNode extends NodeContext {
  verifyToken(token: string | undefined): Promise<Identity>;
  readonly engine: Pick<Engine, 'broker' | 'limits'>;
  acquireConnection(tenant: string, user: string): Promise<'ok' | 'user' | 'tenant'>;
  runHook<K extends HookName>(name: K, payload: HookPayloads[K]): Promise<void>;
  registerUser(client: KernelSession): void;
  /** Join the channel's local subscribers (the broker delivers it to this node from then on). */
  joinHub(key: string, client: KernelSession): Promise<void>;
  setPresence(client: KernelSession, ch: ResolvedChannel, state: string | null): Promise<void>;
  leavePresence(client: KernelSession, ch: ResolvedChannel): Promise<void>;
  presenceStatusChanged(client: KernelSession): void;
  removeSubscription(client: KernelSession, key: string): void;
}

/** What the kernel's own commands see of a connection, beyond what a feature's command sees. */
export interface KernelSession extends SessionContext {
  readonly state: 'handshake' | 'connected' | 'closed';
  identity: Identity | null;
  readonly subs: Map<string, Subscription>;
  holdsSlot: boolean;
  manualStatus: 'online' | 'away';
  readonly signalBucket: TokenBucket;
  markConnected(identity: Identity): void;
  scheduleExpiry(): void;
  enqueue(bytes: Buffer, droppable?: boolean): void;
  releasePending(sub: Subscription): void;
}

export interface KernelCommandContext {
  client: KernelSession;
  node: KernelNode;
}

/** A command of the kernel's protocol: like `defineCommand`, with the kernel's context. */
export function kernelCommand<S extends z.ZodType>(def: CommandDefinition<S, KernelCommandContext>): CommandDefinition<S, KernelCommandContext> {
  return def;
}
