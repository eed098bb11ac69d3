import type { PresenceMember, PresenceStatus, PublisherInfo } from '@switchboard/protocol';
import type { Identity } from '../auth/token-verifier.js';
import { deviceOf, type PresenceEntry } from '../engine/presence-store.js';

/** Who published: the user, the connection and the token's public `info` when it has one. */
export function publisherInfo(identity: Identity, client: string): PublisherInfo {
  return identity.info === undefined ? { user: identity.user, client } : { user: identity.user, client, info: identity.info };
}

export { deviceOf };

const RANK: Record<PresenceStatus, number> = { online: 3, away: 2, idle: 1 };

/** Group connection entries into one member per user, with one device per connection. */
export function groupPresence(entries: readonly PresenceEntry[]): PresenceMember[] {
  const byUser = new Map<string, PresenceMember>();
  const newest = new Map<string, number>();
  for (const e of entries) {
    let member = byUser.get(e.user);
    if (!member) {
      member = { user: e.user, status: e.status, devices: [] };
      byUser.set(e.user, member);
    }
    const device = deviceOf(e);
    member.devices.push(device);
    if (RANK[e.status] > RANK[member.status]) member.status = e.status;
    if (device.info !== undefined && (newest.get(e.user) ?? -1) <= e.since) {
      member.info = device.info;
      newest.set(e.user, e.since);
    }
  }
  return [...byUser.values()].map(({ user, status, info, devices }) => (info === undefined ? { user, status, devices } : { user, status, info, devices }));
}
