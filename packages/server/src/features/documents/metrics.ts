import { Counter, Gauge, type Registry } from 'prom-client';

/** Why an update or awareness message was not applied. */
export type DropReason = 'read_only' | 'invalid' | 'too_large' | 'awareness_owner' | 'awareness_off' | 'rate' | 'locked';

/** Prometheus metrics of the documents feature. */
export interface DocumentMetrics {
  loaded(delta: number): void;
  /** Loaded documents held as their encoded state (hibernated), by this much more. */
  hibernated(delta: number): void;
  applied(): void;
  dropped(reason: DropReason): void;
  storeFailed(): void;
  compacted(): void;
  /** A read of the log's tail: this node lacked updates another node logged (a relay lost, or out of order). */
  caughtUp(): void;
  /** Updates another node logged, relayed to this one. */
  relayed(count: number): void;
  /** A document's whole state was encoded for a client that held none of it (joiners meanwhile share it). */
  stateEncoded(): void;
}

export function documentMetrics(registry: Registry): DocumentMetrics {
  const loaded = new Gauge({ name: 'switchboard_documents_loaded', help: 'Documents loaded in memory on this node', registers: [registry] });
  const hibernated = new Gauge({
    name: 'switchboard_documents_hibernated',
    help: 'Loaded documents held as their encoded Yjs state until their next use (nobody changed or read them for documents.hibernateAfter)',
    registers: [registry],
  });
  const applied = new Counter({
    name: 'switchboard_document_updates_total',
    help: 'Yjs updates from clients that changed a document',
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'switchboard_document_updates_dropped_total',
    help: 'Updates and awareness messages not applied, by reason (read_only, invalid, too_large, awareness_owner, awareness_off, rate, locked)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const storeFailures = new Counter({
    name: 'switchboard_document_store_failures_total',
    help: 'Writes of document updates that failed (retried with backoff; the document stays loaded)',
    registers: [registry],
  });
  const compactions = new Counter({
    name: 'switchboard_document_compactions_total',
    help: 'Update logs folded into their document snapshot',
    registers: [registry],
  });
  const caughtUp = new Counter({
    name: 'switchboard_document_catch_ups_total',
    help: "Reads of a document log's tail by a node that lacked updates another node logged (a relay missed or out of order)",
    registers: [registry],
  });
  const relayed = new Counter({
    name: 'switchboard_document_relayed_updates_total',
    help: 'Updates another node logged and relayed to this one',
    registers: [registry],
  });
  const encoded = new Counter({
    name: 'switchboard_document_state_encodings_total',
    help: 'Whole document states encoded for clients that joined holding nothing (shared by every such joiner until the next change)',
    registers: [registry],
  });
  return {
    stateEncoded: () => encoded.inc(),
    caughtUp: () => caughtUp.inc(),
    relayed: (count) => relayed.inc(count),
    loaded: (delta) => loaded.inc(delta),
    hibernated: (delta) => hibernated.inc(delta),
    applied: () => applied.inc(),
    dropped: (reason) => dropped.inc({ reason }),
    storeFailed: () => storeFailures.inc(),
    compacted: () => compactions.inc(),
  };
}
