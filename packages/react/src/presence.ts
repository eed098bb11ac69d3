import type { PresenceEvent, PresenceMember, PresenceStatus } from '@switchboard/client';

const RANK: Record<PresenceStatus, number> = { online: 2, away: 1, idle: 0 };

/** A presence push as the subscription emits it. */
export interface PresenceChange {
  readonly kind: 'join' | 'update' | 'leave';
  readonly event: PresenceEvent;
}

/** The member list after one join / update / leave: devices keyed by client, members by user. */
export function applyPresence(members: readonly PresenceMember[], { kind, event }: PresenceChange): PresenceMember[] {
  const index = members.findIndex((m) => m.user === event.user);
  const current = index >= 0 ? (members[index] as PresenceMember) : null;
  const others = (current?.devices ?? []).filter((d) => d.client !== event.device.client);
  const devices = kind === 'leave' ? others : [...others, event.device];
  const next = [...members];
  if (devices.length === 0) {
    if (index >= 0) next.splice(index, 1);
    return next;
  }
  const status = devices.reduce<PresenceStatus>((best, d) => (RANK[d.status] > RANK[best] ? d.status : best), 'idle');
  // As the server lists it: the token `info` of the most recently entered device that has one.
  let newest: PresenceMember['devices'][number] | null = null;
  for (const d of devices) if (d.info !== undefined && (newest === null || d.since >= newest.since)) newest = d;
  const member: PresenceMember = newest === null ? { user: event.user, status, devices } : { user: event.user, status, info: newest.info, devices };
  if (index >= 0) next[index] = member;
  else next.push(member);
  return next;
}
