import type { PresenceDevice, PresenceMember, PresenceStatus } from '@switchboard/protocol';
import type { PresenceEntry } from '../engine/presence-store.js';

/** The wire form of one connection's presence entry. */
export function deviceOf(e: PresenceEntry): PresenceDevice {
  return { client: e.client, status: e.status, state: e.state === null ? null : JSON.parse(e.state), since: e.since };
}

const RANK: Record<PresenceStatus, number> = { online: 3, away: 2, idle: 1 };

/** Group connection entries into one member per user, with one device per connection. */
export function groupPresence(entries: readonly PresenceEntry[]): PresenceMember[] {
  const byUser = new Map<string, PresenceMember>();
  for (const e of entries) {
    let member = byUser.get(e.user);
    if (!member) {
      member = { user: e.user, status: e.status, devices: [] };
      byUser.set(e.user, member);
    }
    member.devices.push(deviceOf(e));
    if (RANK[e.status] > RANK[member.status]) member.status = e.status;
  }
  return [...byUser.values()];
}
