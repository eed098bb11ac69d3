import type { z } from 'zod';
import type { CommandDefinition } from '../command.js';
import type { KernelCommandContext } from '../kernel-context.js';
import { presenceCommand, presenceLeaveCommand, presenceSetCommand, presenceStatsCommand, statusCommand } from './presence.js';
import { historyCommand, publishCommand } from './publish.js';
import { connectCommand, pingCommand, refreshCommand } from './session.js';
import { signalCommand } from './signal.js';
import { subscribeCommand, unsubscribeCommand } from './subscribe.js';

/** The commands of protocol v1. Features add theirs through the module registry. */
export const coreCommands: readonly CommandDefinition<z.ZodType, KernelCommandContext>[] = [
  connectCommand,
  refreshCommand,
  pingCommand,
  subscribeCommand,
  unsubscribeCommand,
  publishCommand,
  historyCommand,
  presenceCommand,
  presenceStatsCommand,
  presenceSetCommand,
  presenceLeaveCommand,
  statusCommand,
  signalCommand,
] as CommandDefinition<z.ZodType, KernelCommandContext>[];
