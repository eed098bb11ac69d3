/** Refresh never earlier than this before expiry, unless the lifetime is short. */
const MIN_LEAD_MS = 5_000;

/**
 * How long to wait before refreshing a token that expires at `expires` (Unix ms):
 * refresh at expires − max(5 s, 10% of the remaining lifetime), but never later than
 * half-way through a short lifetime, so a 3 s token is refreshed after 1.5 s.
 */
export function refreshDelay(expires: number, now: number): number {
  const lifetime = expires - now;
  if (lifetime <= 0) return 0;
  const lead = Math.min(Math.max(MIN_LEAD_MS, lifetime * 0.1), lifetime / 2);
  return Math.floor(lifetime - lead);
}
