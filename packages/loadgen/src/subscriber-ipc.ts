import type { ServerKind } from './comparison.js';

/** Orchestrator -> server process. */
export type ServerRequest =
  | { type: 'stats'; gc?: boolean }
  /** CPU profile of a measured window, written to `file` on stop. */
  | { type: 'profile'; action: 'start' | 'stop'; file?: string }
  | { type: 'stop' };

/** Server process -> orchestrator. */
export type ServerReply =
  | { type: 'ready'; port: number; url: string }
  | { type: 'stats'; rss: number; heapUsed: number; external: number; arrayBuffers: number; connections: number }
  | { type: 'profiled' }
  | { type: 'stopped' };

/** Orchestrator -> subscriber worker. */
export type SubscriberRequest =
  | {
      type: 'connect';
      kind: ServerKind;
      url: string;
      count: number;
      subscribe: boolean;
      channel: string;
      secret: string;
      /** Source addresses to spread connections over (connection i uses addresses[(offset + i) % n]). */
      addresses: string[];
      addressOffset: number;
      concurrency: number;
      /** Prefix of each connection's `sub` claim, so every bench client is its own user. */
      userPrefix: string;
    }
  | { type: 'reset' }
  | { type: 'count' }
  | { type: 'results' }
  | { type: 'close' }
  | { type: 'exit' };

export interface ConnectReport {
  type: 'connected';
  ok: number;
  failed: number;
  errors: string[];
  /** CLOCK_MONOTONIC µs of the first open and the last completed connection. */
  startUs: number;
  endUs: number;
}

export interface ResultsReport {
  type: 'results';
  received: number;
  /** Messages with a lower or equal seq than the previous one on the same connection. */
  outOfOrder: number;
  /** Fewest and most measured messages received by one connection. */
  minPerConn: number;
  maxPerConn: number;
  connections: number;
  lastRecvUs: number;
  /** One latency per received message, µs. */
  latencies: Float64Array;
}

export type SubscriberReply =
  | ConnectReport
  | ResultsReport
  | { type: 'progress'; ok: number; failed: number }
  | { type: 'count'; received: number; warmReceived: number; lastRecvUs: number }
  | { type: 'reset' }
  | { type: 'closed'; closed: number; forced: number };
