/**
 * The Switchboard load generator. `switchboard bench` runs its scenarios (bench, benchHelp);
 * the side-by-side comparisons of bench/ drive its subscriber workers, wire adapters and
 * machine gauges.
 */

export { type BenchClient, type ClientOptions, createClient, mintBenchToken, type OnPub } from './adapters.js';
export { ChildRegistry } from './children.js';
export { bench, benchHelp } from './command.js';
export { CHANNELS, type ComparePayload, type LatencyMs, latencySummary, SERVER_KINDS, SERVER_LABELS, type ServerKind, TENANT } from './comparison.js';
export { BenchFailure, BenchUsageError } from './failure.js';
export { connectOnce, type ForgedStormOptions, type ForgedStormResult, forgedStorm, forgedToken, type GoodConnects } from './forged-storm.js';
export { Histogram, type HistogramData, type LatencySummary } from './histogram.js';
export { BODY } from './ipc.js';
export {
  type DocumentAddress,
  documentUrl,
  type EditOutcome,
  type Editor,
  type EditPlan,
  openLightEditor,
  Receipts,
  runEditors,
  type SocketOptions,
} from './light-editor.js';
export type { BenchArgv } from './options.js';
export { type ForkOptions, Peer } from './peer.js';
export { clockTicksPerSecond, cpuTicks, machineTicks, nowUs, OtherLoad, rssBytes, sleep, withTimeout } from './proc.js';
export { NOISY_PCT, quietest, waitQuiet } from './quiet.js';
export { drainDeliveries } from './subscriber-drain.js';
export type * from './subscriber-ipc.js';
export { closeSyncClients, openSyncClient, type SyncClient, type SyncedState, type SyncOptions } from './sync-client.js';
export type { ServerHost } from './target.js';
export { mintToken } from './token.js';
export {
  authFrame,
  countMarkers,
  isStep2,
  marker,
  scanMarkers,
  step1Frame,
  TEXT,
  TextAppender,
  updateFrame,
  type Wire,
} from './yjs-wire.js';

/** The compiled subscriber worker, forked with plain `node` (no loader) by the comparisons. */
export const SUBSCRIBER_WORKER: URL = new URL('./subscriber-worker.js', import.meta.url);
