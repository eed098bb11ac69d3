import type { PresenceStatus } from '@switchboard/protocol';

/** One connection's presence in one channel. `state` is the JSON text of the custom state. */
export interface PresenceEntry {
  client: string;
  user: string;
  status: PresenceStatus;
  state: string | null;
  since: number;
}

export interface PresenceCounts {
  users: number;
  connections: number;
}

/**
 * Presence per channel, keyed by connection. Implementations that span processes expire
 * entries that their owning node stops refreshing, so a dead node's members disappear.
 */
export interface PresenceStore {
  /** Add or replace the entry of `entry.client`. Returns true when it was not present before. */
  set(channel: string, entry: PresenceEntry): Promise<boolean>;
  /** Remove a connection's entry. Returns the removed entry, if any. */
  remove(channel: string, client: string): Promise<PresenceEntry | undefined>;
  get(channel: string): Promise<PresenceEntry[]>;
  counts(channel: string): Promise<PresenceCounts>;
  close(): Promise<void>;
}
