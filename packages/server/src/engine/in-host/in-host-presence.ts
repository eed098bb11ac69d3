import type { PresenceCounts, PresenceEntry, PresenceSetResult, PresenceStore } from '../presence-store.js';
import type { InHostConnection } from './connection.js';
import { finite } from './wire.js';

/**
 * A worker's presence: entries live on the host, owned by this worker there, so they leave
 * (with their leave events) as soon as the host sees this worker's connection close. Kept
 * here too, to write back on a new connection to a host that lost them.
 */
export class InHostPresenceStore implements PresenceStore {
  readonly #conn: InHostConnection;
  readonly #mine = new Map<string, Map<string, PresenceEntry>>();

  constructor(conn: InHostConnection) {
    this.#conn = conn.retain();
    conn.onReconnected(async (first) => {
      if (first) return;
      const presence = [...this.#mine].flatMap(([channel, entries]) => [...entries.values()].map((e) => [channel, e] as const));
      if (presence.length > 0) await conn.restoreRequest('restore', [{ channels: [], presence, slots: [] }]);
    });
  }

  async set(channel: string, entry: PresenceEntry, maxEntries = Number.POSITIVE_INFINITY): Promise<PresenceSetResult> {
    const result = await this.#conn.request<PresenceSetResult>('presence.set', [channel, entry, finite(maxEntries)]);
    if (result !== 'full') {
      let mine = this.#mine.get(channel);
      if (!mine) {
        mine = new Map();
        this.#mine.set(channel, mine);
      }
      mine.set(entry.client, { ...entry });
    }
    return result;
  }

  async remove(channel: string, client: string): Promise<PresenceEntry | undefined> {
    const mine = this.#mine.get(channel);
    mine?.delete(client);
    if (mine?.size === 0) this.#mine.delete(channel);
    return (await this.#conn.request<PresenceEntry | undefined>('presence.remove', [channel, client])) ?? undefined;
  }

  get(channel: string): Promise<PresenceEntry[]> {
    return this.#conn.request('presence.get', [channel]);
  }

  counts(channel: string): Promise<PresenceCounts> {
    return this.#conn.request('presence.counts', [channel]);
  }

  async close(): Promise<void> {
    this.#mine.clear();
    await this.#conn.release();
  }
}
