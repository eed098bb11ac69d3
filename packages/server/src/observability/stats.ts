import { ChannelRates } from './channel-rates.js';
import { ErrorLog } from './error-log.js';

/**
 * Plain counters updated on the hot path; the Prometheus registry reads them on scrape,
 * so a delivery costs an addition, not a metrics-library call.
 */
export class NodeStats {
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  publications = 0;
  /** Publications accepted per channel over the last seconds (`GET /api/v1/channels`' publish rate). */
  readonly channelRates = new ChannelRates();
  readonly errors = new Map<number, number>();
  /** The typed errors answered, by tenant and code, with redacted examples (`GET /api/v1/errors`). */
  readonly errorLog = new ErrorLog();
  readonly drops = new Map<string, number>();
  readonly disconnects = new Map<number, number>();
  /** Channels whose stream lost publications under this node's subscribers, by cause. */
  readonly streamLosses = new Map<string, number>();
  /** Subscriptions told to resubscribe (`unsubscribe` push 3009) because of such a loss. */
  resyncs = 0;
  /** Publications a conflated channel's window dropped for a later one of the same key (once per node, not per subscriber). */
  conflated = 0;
  /** Open sessions of the fallback transport (Server-Sent Events + POST), counted in the connections too. */
  fallbackSessions = 0;
  /** permessage-deflate: payloads deflated (once each, however many sockets get them), their bytes before and after. */
  compressions = 0;
  compressionBytesIn = 0;
  compressionBytesOut = 0;
  /** WebSocket messages sent compressed. */
  compressedMessages = 0;
  /** Of those, messages of a shared compression stream (context takeover), and the streams' restarts. */
  sharedCompressedMessages = 0;
  compressionRestarts = 0;

  error(code: number): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** One publication accepted on this node to the channel `key` (`tenant|channel`). */
  published(key: string, now: number): void {
    this.publications++;
    this.channelRates.add(key, now);
  }

  drop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  streamLost(cause: string): void {
    this.streamLosses.set(cause, (this.streamLosses.get(cause) ?? 0) + 1);
  }

  disconnect(code: number): void {
    this.disconnects.set(code, (this.disconnects.get(code) ?? 0) + 1);
  }
}
