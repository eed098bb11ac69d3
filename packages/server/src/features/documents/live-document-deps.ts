import type { DisconnectInfo } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { DocumentSettings } from './config.js';
import type { DocumentHooks } from './hooks.js';
import type { DocumentMetrics } from './metrics.js';
import type { Appended, Compaction, DocumentStore, Fold } from './store.js';

/** What a loaded document is wired to: the connections that have it open, and what its node gives it. */

/** One connection's side of an open document: how the document reaches it. */
export interface DocumentPeer {
  readonly id: string;
  /** Send one encoded message (the same Buffer to every peer: framed once). */
  send(message: Buffer): void;
  /**
   * The document is gone for this peer: discarded after a broken update (4205 Reset: the
   * provider reconnects and syncs again) or deleted (4404 Deleted).
   */
  end(info: DisconnectInfo): void;
}

/** `D`: the document (LiveDocument; generic so that this file does not import it). */
export interface LiveDocumentDeps<D> {
  store: DocumentStore;
  settings: DocumentSettings;
  compactAfter: number;
  /** Least time between two folds of the log (ms), unless it holds 64 × `compactAfter` entries. */
  compactInterval: number;
  /** Least time between two writes of the log, and between two sends to the peers (ms; 0: once per turn). */
  groupCommit: number;
  sendWindow: number;
  metrics: DocumentMetrics;
  logger: Logger;
  /** Called when the document may be unloadable (no peer, nothing to store). */
  idle(doc: D): void;
  /** Called when an apply failed halfway: the document must be discarded (its peers reconnect and it reloads). */
  broken(doc: D): void;
  /**
   * Called after a write committed `entries` with the numbers `range` (each node that holds
   * the document is told); they hold `count` updates of clients.
   */
  stored(doc: D, entries: Uint8Array[], range: Appended, count: number, indices: StoredIndices): void;
  /** Whether other nodes may hold the document (the Redis engine): a stored document's updates are relayed to them before they are stored. */
  clustered: boolean;
  /** Relay this turn's updates numbered `after + 1`… to the other nodes before they are stored; false when they were not sent (too large: read from the log). */
  relayEarly(doc: D, updates: Uint8Array[], after: number): boolean;
  /** The embedding app's hooks (onChange, beforeBroadcast), if any. */
  hooks?: DocumentHooks;
  /** Fold the document's log into its snapshot, unless another node is doing it (a lease). */
  compact(doc: D, fold: Fold): Promise<Compaction>;
  /** Called with this node's changes to a document that is not stored, once per turn (other nodes apply them). */
  relay(doc: D, updates: Uint8Array[]): void;
  /** Called with an awareness change made by one of this node's peers (`user`: its user), for the other nodes. */
  relayAwareness(doc: D, update: Uint8Array, user: string | null): void;
}

/** Which of this load's updates (numbered 1, 2, … per load) a write stored: `after + 1` … `upTo`; `early`: all of them were relayed early. */
export interface StoredIndices {
  after: number;
  upTo: number;
  early: boolean;
}

/** A stored announcement from another node, for the updates it relayed early: its node, load, numbers and the stored bytes. */
export interface EarlyStored {
  node: string;
  instance: number;
  after: number;
  upTo: number;
  bytes: number;
}
