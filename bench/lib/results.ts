import type { LatencyMs } from '@switchboard/loadgen';
import type { ServerVariant } from './variants.js';

/** N idle connections opened and held. */
export interface ConnectRun {
  server: ServerVariant;
  round: number;
  target: number;
  connected: number;
  failed: number;
  errors: string[];
  seconds: number;
  /** Connections completed per second (handshake + auth). */
  perSecond: number;
  /** Server CPU per connection opened, µs (/proc utime+stime). */
  cpuUsPerConnection: number;
  /** Server CPU while connecting, % of one core. */
  serverCpuPct: number;
  /** Load generator CPU while connecting (includes minting nothing: tokens are minted before), % of one core. */
  loadgenCpuPct: number;
  /** CPU used by other normal-priority processes while connecting, % of one core (should be ~0). */
  otherCpuPct: number;
  /** CPU used by other niced (background) processes while connecting, % of one core. */
  nicedCpuPct: number;
  /** Measurements taken; more than 1 when earlier ones were disturbed by other processes. */
  attempts: number;
  rssBaseMB: number;
  rssAfterMB: number;
  /** (RSS after - RSS before) / connections, after a forced GC in the server. */
  rssPerConnKB: number;
  heapPerConnKB: number;
}

/** N subscribers on one channel, one publisher at R msgs/s. */
export interface FanoutRun {
  server: ServerVariant;
  round: number;
  subscribers: number;
  connected: number;
  connectFailed: number;
  errors: string[];
  connectSeconds: number;
  rssBaseMB: number;
  rssSubscribedMB: number;
  /** RSS per subscribed connection, KB. */
  rssPerConnKB: number;
  heapPerConnKB: number;
  /** Target publish rate, msgs/s. */
  rate: number;
  durationSeconds: number;
  published: number;
  publishFailed: number;
  expected: number;
  delivered: number;
  deliveryPct: number;
  /** Every connection got every publication exactly once, in order. */
  complete: boolean;
  outOfOrder: number;
  minPerConn: number;
  maxPerConn: number;
  /** Deliveries per second, from the first publish to the last receipt. */
  deliveredPerSecond: number;
  latencyMs: LatencyMs;
  /** Server CPU (/proc utime+stime, all threads) per delivered message, µs. */
  cpuUsPerDelivery: number;
  /** Server CPU over the measured window, % of one core. */
  serverCpuPct: number;
  /** Load generator (subscriber workers) CPU over the window, % of one core. */
  loadgenCpuPct: number;
  /** CPU used by other normal-priority processes on the machine over the window, % of one core (should be ~0). */
  otherCpuPct: number;
  /** CPU used by other niced (background) processes over the window, % of one core; they yield to the bench. */
  nicedCpuPct: number;
  /** Measurements taken; more than 1 when earlier ones were disturbed by other processes. */
  attempts: number;
}

export interface MachineInfo {
  nproc: number;
  cpu: string;
  memoryGB: number;
  node: string;
  kernel: string;
  /** git revision of the tree the server was built from. */
  revision: string;
  /** Fingerprint of packages/server/dist and packages/protocol/dist at the start. */
  build: string;
  /** True when the build changed while the run was going on. */
  buildChanged?: boolean;
  versions: Record<string, string>;
}

export interface BenchOptions {
  servers: ServerVariant[];
  rounds: number;
  connect: number;
  fanout: Array<{ subscribers: number; rate: number }>;
  durationSeconds: number;
  warmupSeconds: number;
  workers: number;
  addresses: number;
  concurrency: number;
  pin: boolean;
  profile: boolean;
  /** Scheduling priority of the run and every process it started (0 = unchanged). */
  nice: number;
  /** Clients of the reconnect storm (`switchboard bench reconnect-storm`), 0 = none. */
  storm?: number;
  /** `serve --workers N` of the reconnect storm's server (absent: 1). */
  stormWorkers?: number;
}

/** Every client drops at once and recovers (Switchboard only: the others have no recovery). */
export interface StormRun {
  clients: number;
  /** `serve --workers N` of its server (absent: 1). */
  serverWorkers?: number;
  ok: boolean;
  reconnected: number;
  recovered: number;
  notRecovered: number;
  missed: number;
  duplicates: number;
  outOfOrder: number;
  recoveredPublications: number;
  timeToFullRecoveryMs: number;
  reconnectsPerSecond: number;
  otherCpuPct: number;
  error?: string;
}

export interface BenchResults {
  startedAt: string;
  command: string;
  machine: MachineInfo;
  options: BenchOptions;
  connect: ConnectRun[];
  fanout: FanoutRun[];
  storm?: StormRun;
  /** Scenarios replaced by those of a second run (see `reason`). */
  supplement?: { command: string; startedAt: string; replaced: string; reason: string };
}
