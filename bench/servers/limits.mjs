// @ts-check
/**
 * Switchboard limits raised for benchmarks (the defaults are tuned for hostile clients).
 * Shared by bench/servers/switchboard.mjs and bench/cluster.ts.
 */
export const BENCH_LIMITS = Object.freeze({
  connectionsPerUser: 100_000,
  connectionsPerTenant: 1_000_000,
  newConnectionsPerIpPerSecond: 100_000,
  publishPerSecondPerConnection: 100_000,
  eventsPerMinutePerUser: 100_000_000,
  commandsPerSecond: 100_000,
  // A subscriber of the load generator may fall seconds behind at high rates; raw ws
  // and Socket.IO buffer without a limit, so the queue limit is raised to match.
  queueMaxBytes: 64 * 1024 * 1024,
});
