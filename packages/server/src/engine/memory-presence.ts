import type { PresenceCounts, PresenceEntry, PresenceSetResult, PresenceStore } from './presence-store.js';

/** One-process presence: entries live exactly as long as their connection's subscription. */
export class MemoryPresenceStore implements PresenceStore {
  readonly #channels = new Map<string, Map<string, PresenceEntry>>();

  async set(channel: string, entry: PresenceEntry, maxEntries = Infinity): Promise<PresenceSetResult> {
    const members = this.#channels.get(channel) ?? new Map<string, PresenceEntry>();
    const isNew = !members.has(entry.client);
    if (isNew && members.size >= maxEntries) return 'full';
    members.set(entry.client, { ...entry });
    this.#channels.set(channel, members);
    return isNew ? 'new' : 'updated';
  }

  async remove(channel: string, client: string): Promise<PresenceEntry | undefined> {
    const members = this.#channels.get(channel);
    const entry = members?.get(client);
    if (!members || !entry) return undefined;
    members.delete(client);
    if (members.size === 0) this.#channels.delete(channel);
    return entry;
  }

  async get(channel: string): Promise<PresenceEntry[]> {
    return [...(this.#channels.get(channel)?.values() ?? [])].map((e) => ({ ...e }));
  }

  async counts(channel: string): Promise<PresenceCounts> {
    const members = this.#channels.get(channel);
    if (!members) return { users: 0, connections: 0 };
    const users = new Set<string>();
    for (const e of members.values()) users.add(e.user);
    return { users: users.size, connections: members.size };
  }

  async close(): Promise<void> {
    this.#channels.clear();
  }
}
