import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { LatencyObservers, type SelfFigures, type TenantFigures } from './self-figures.js';
import type { NodeStats } from './stats.js';

export interface MetricSources {
  stats: NodeStats;
  connections(): number;
  subscriptions(): number;
  channels(): number;
  /** Each tenant's figures on this node (not exported here: per tenant; the system scope reads them). */
  tenants(): Iterable<[string, TenantFigures]>;
}

/** The node's Prometheus registry. Counters mirror NodeStats at scrape time. */
export function createMetrics(sources: MetricSources, defaultMetrics = true) {
  const registry = new Registry();
  // prom-client's default names already start with process_ or nodejs_: switchboard_process_cpu_seconds_total, …
  if (defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'switchboard_' });
  const { stats } = sources;
  const mirror = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  const mirrorMap = <K>(name: string, help: string, label: string, map: Map<K, number>) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [k, v] of map) this.inc({ [label]: String(k) }, v);
      },
    });
  new Gauge({
    name: 'switchboard_connections',
    help: 'Open client connections',
    registers: [registry],
    collect() {
      this.set(sources.connections());
    },
  });
  new Gauge({
    name: 'switchboard_subscriptions',
    help: 'Channel subscriptions of open connections',
    registers: [registry],
    collect() {
      this.set(sources.subscriptions());
    },
  });
  new Gauge({
    name: 'switchboard_channels',
    help: 'Channels with local subscribers',
    registers: [registry],
    collect() {
      this.set(sources.channels());
    },
  });
  new Gauge({
    name: 'switchboard_fallback_sessions',
    help: 'Open connections on the fallback transport (Server-Sent Events + POST at /ws/sse), also in switchboard_connections',
    registers: [registry],
    collect() {
      this.set(stats.fallbackSessions);
    },
  });
  mirror('switchboard_messages_in_total', 'WebSocket messages received', () => stats.messagesIn);
  mirror('switchboard_messages_out_total', 'Frames sent to clients', () => stats.messagesOut);
  mirror('switchboard_bytes_in_total', 'Bytes received in WebSocket messages', () => stats.bytesIn);
  mirror('switchboard_bytes_out_total', 'Bytes sent in WebSocket messages', () => stats.bytesOut);
  mirror('switchboard_publications_total', 'Publications accepted', () => stats.publications);
  mirror(
    'switchboard_compressions_total',
    'Payloads deflated (permessage-deflate): once per payload, however many sockets receive it',
    () => stats.compressions,
  );
  mirror('switchboard_compression_bytes_in_total', 'Bytes of the payloads deflated', () => stats.compressionBytesIn);
  mirror('switchboard_compression_bytes_out_total', 'Bytes of their deflated segments', () => stats.compressionBytesOut);
  mirror('switchboard_compressed_messages_total', 'WebSocket messages sent compressed', () => stats.compressedMessages);
  mirror(
    'switchboard_compressed_shared_messages_total',
    "Compressed messages sent from a channel's shared stream (context takeover: compressed against its previous messages)",
    () => stats.sharedCompressedMessages,
  );
  mirror(
    'switchboard_compression_restarts_total',
    'Shared compression streams restarted (a message compressed alone) for sockets out of step',
    () => stats.compressionRestarts,
  );
  mirrorMap('switchboard_errors_total', 'Reply errors by code', 'code', stats.errors);
  mirrorMap('switchboard_drops_total', 'Dropped frames or connections by reason', 'reason', stats.drops);
  mirrorMap(
    'switchboard_stream_losses_total',
    'Channels whose stream lost publications under local subscribers, by cause (epoch, regressed, gap, removed)',
    'cause',
    stats.streamLosses,
  );
  mirror(
    'switchboard_resubscribes_requested_total',
    'Subscriptions told to resubscribe and recover (unsubscribe push 3009) after a stream loss',
    () => stats.resyncs,
  );
  mirror(
    'switchboard_conflated_publications_total',
    'Publications of conflated namespaces not delivered live because a later one of the same key replaced them in its window (counted once per node; history keeps them)',
    () => stats.conflated,
  );
  mirrorMap('switchboard_disconnects_total', 'Server-initiated closes by close code', 'code', stats.disconnects);
  const commandDuration = new Histogram({
    name: 'switchboard_command_duration_seconds',
    help: 'Client command latency',
    labelNames: ['method'],
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'switchboard_http_request_duration_seconds',
    help: 'HTTP API latency',
    labelNames: ['route', 'status'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const commands = new LatencyObservers();
  const requests = new LatencyObservers();
  const figures: SelfFigures = {
    stats,
    connections: sources.connections,
    subscriptions: sources.subscriptions,
    tenants: sources.tenants,
    onCommand: (observer) => commands.add(observer),
    onHttp: (observer) => requests.add(observer),
  };
  return {
    registry,
    commandDuration,
    httpDuration,
    figures,
    /** One command's latency: the histogram and the figures' observers (the system scope) hear it at this one call. */
    observeCommand(method: string, seconds: number): void {
      commandDuration.observe({ method }, seconds);
      commands.observe(method, seconds);
    },
    /** One HTTP request's latency, as `observeCommand`. */
    observeHttp(route: string, status: number, seconds: number): void {
      httpDuration.observe({ route, status: String(status) }, seconds);
      requests.observe(route, seconds);
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Metrics of a TLS server: the expiry of the certificate new handshakes get (alert well before
 * it, in case renewals stopped reaching the node) and reloads by result (`ok`, `failed`).
 */
export function addTlsMetrics(registry: Registry, expiry: () => number) {
  new Gauge({
    name: 'switchboard_tls_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the certificate new TLS handshakes get, Unix seconds',
    registers: [registry],
    collect() {
      this.set(expiry());
    },
  });
  return new Counter({
    name: 'switchboard_tls_reloads_total',
    help: 'Certificate reloads (SIGHUP or reloadTls) by result: ok, failed (the certificate in use kept)',
    labelNames: ['result'],
    registers: [registry],
  });
}
