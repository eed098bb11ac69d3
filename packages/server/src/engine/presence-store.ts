import type { PresenceDevice, PresenceStatus } from '@switchboard/protocol';

/** One connection's presence in one channel. `state` is the JSON text of the custom state. */
export interface PresenceEntry {
  client: string;
  user: string;
  status: PresenceStatus;
  state: string | null;
  since: number;
  /** JSON text of the connection's token `info`, when it has one. */
  info?: string;
}

/** The wire form of one connection's presence entry (in join/leave/update events and presence lists). */
export function deviceOf(e: PresenceEntry): PresenceDevice {
  const device: PresenceDevice = { client: e.client, status: e.status, state: e.state === null ? null : JSON.parse(e.state), since: e.since };
  if (e.info !== undefined) device.info = JSON.parse(e.info);
  return device;
}

export interface PresenceCounts {
  users: number;
  connections: number;
}

/** What `set` did: added a connection, replaced its entry, or refused it (the channel is full). */
export type PresenceSetResult = 'new' | 'updated' | 'full';

/**
 * Presence per channel, keyed by connection. Implementations that span processes expire
 * entries that their owning node stops refreshing, so a dead node's members disappear.
 */
export interface PresenceStore {
  /**
   * Add or replace the entry of `entry.client`. With `maxEntries`, a connection not present
   * yet is added only while the channel holds fewer entries than that, in one atomic step
   * for every node sharing the store (an entry already present is always replaced).
   */
  set(channel: string, entry: PresenceEntry, maxEntries?: number): Promise<PresenceSetResult>;
  /** Remove a connection's entry. Returns the removed entry, if any. */
  remove(channel: string, client: string): Promise<PresenceEntry | undefined>;
  get(channel: string): Promise<PresenceEntry[]>;
  counts(channel: string): Promise<PresenceCounts>;
  close(): Promise<void>;
}
