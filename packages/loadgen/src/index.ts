/** The Switchboard load generator: `switchboard bench` runs its scenarios; bench/ drives its fleet and wire adapters. */
export { bench, benchHelp } from './command.js';
export { BenchFailure, BenchUsageError } from './failure.js';
export type { BenchArgv } from './options.js';
export type { ServerHost } from './target.js';
