import type { z } from 'zod';
import type { NodeContext, SessionContext } from './context.js';

/** What a command handler gets: the connection that sent it and the node. */
export interface CommandContext {
  client: SessionContext;
  node: NodeContext;
}

/**
 * A client command: its params schema (validated at the edge, strictly) and handler.
 * Core commands and feature commands are defined the same way.
 */
export interface CommandDefinition<S extends z.ZodType = z.ZodType, C = CommandContext> {
  method: string;
  params: S;
  /** Commands allowed before `connect` completes (only `connect` itself in core). */
  beforeConnect?: boolean;
  /**
   * The command may run while earlier pipelined commands of its connection are still in
   * flight (it still waits for earlier serial ones, and its reply still leaves in order).
   * For commands whose engine calls are issued in arrival order and that touch no
   * per-connection state another command reads, like `publish`.
   */
  pipelined?: boolean;
  handler(ctx: C, params: z.output<S>): Promise<unknown>;
}

/** Define a command with its params type inferred from the schema. */
export function defineCommand<S extends z.ZodType>(def: CommandDefinition<S>): CommandDefinition<S> {
  return def;
}
